package e2e

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// readmeSections are the README sections whose shell blocks a user runs in
// order against `hallmark serve --dev`; the other sections start the server
// or describe a production repository.
var readmeSections = []string{"Walkthrough", "Working as a team"}

// readmeAddr is the address the README's server listens on.
const readmeAddr = "http://127.0.0.1:8080"

// readmeBlocks returns the ```sh blocks of the named "## " sections of a
// Markdown file, verbatim, in order.
func readmeBlocks(t testing.TB, path string, sections []string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var blocks []string
	var cur *strings.Builder
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case cur != nil && line == "```":
			blocks = append(blocks, cur.String())
			cur = nil
		case cur != nil:
			cur.WriteString(line + "\n")
		case strings.HasPrefix(line, "## "):
			section = strings.TrimPrefix(line, "## ")
		case line == "```sh":
			for _, s := range sections {
				if s == section {
					cur = &strings.Builder{}
				}
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return blocks
}

// TestREADMEVerbatim runs the shell blocks of the README's walkthrough and
// team sections, exactly as written and in order, in one shell with a
// terminal that answers "y" to every question, against a real `hallmark
// serve --dev`. The one change: the server listens on a free port instead
// of 8080. The blocks build the CLI with `go build` from a directory that
// links to this checkout, so every command is the README's own.
func TestREADMEVerbatim(t *testing.T) {
	script, err := exec.LookPath("script")
	needTool(t, "script (a terminal for the README's confirmation prompts)", "install it with 'apt-get install bsdutils'", err == nil)
	blocks := readmeBlocks(t, "../README.md", readmeSections)
	if len(blocks) < 8 {
		t.Fatalf("found %d shell blocks in the README's %v sections; the extractor is broken", len(blocks), readmeSections)
	}
	srv := StartServer(t)

	work := t.TempDir()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		if err := os.Symlink(filepath.Join(root, e.Name()), filepath.Join(work, e.Name())); err != nil {
			t.Fatal(err)
		}
	}

	var sh strings.Builder
	sh.WriteString("set -euo pipefail\nstty -echo 2>/dev/null || true\n")
	for i, b := range blocks {
		sh.WriteString("echo '>>> README block " + strconv.Itoa(i+1) + "'\n")
		sh.WriteString(strings.ReplaceAll(b, readmeAddr, srv.URL))
	}
	sh.WriteString("echo '>>> README done'\n")
	scriptFile := filepath.Join(t.TempDir(), "readme.sh")
	if err := os.WriteFile(scriptFile, []byte(sh.String()), 0o644); err != nil {
		t.Fatal(err)
	}

	// The README's `go build` compiles this module again (from another
	// directory): 4 minutes on a loaded 2-core machine.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, script, "-qefc", "bash "+scriptFile, "/dev/null")
	cmd.Dir = work
	cmd.Env = withoutHallmarkEnv(os.Environ())
	cmd.Stdin = strings.NewReader(strings.Repeat("y\n", 100))
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), ">>> README done") {
		t.Fatalf("the README's commands failed (%v); output:\n%s\nserver log:\n%s", err, out, srv.Log())
	}
	t.Logf("README output:\n%s", out)

	// What the walkthrough says happened, happened.
	for _, f := range []string{"downloads/hello-1.0.0.py", "downloads/hello-1.0.0.tar.gz", "carol.pub"} {
		if _, err := os.Stat(filepath.Join(work, f)); err != nil {
			t.Errorf("the walkthrough should have made %s: %v", f, err)
		}
	}
	u := NewUser(t, srv)
	u.MustRun("trust", srv.URL, "--yes")
	show := u.MustRun("project", "show", "hello-world").Stdout
	for _, want := range []string{"Carol <carol@example.org>", "1 of 2 must sign owner", "1 of 1 must sign releases", "hello-1.0.0.tar.gz"} {
		if !strings.Contains(show, want) {
			t.Errorf("after the README, project show lacks %q:\n%s", want, show)
		}
	}
	for _, gone := range []string{"Bob <bob@example.org>", "hello-1.0.0.py"} {
		if strings.Contains(show, gone) {
			t.Errorf("after the README, project show still lists %q:\n%s", gone, show)
		}
	}
}

// withoutHallmarkEnv drops HALLMARK_* variables, so the README's commands
// see only what the README sets.
func withoutHallmarkEnv(env []string) []string {
	var out []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, "HALLMARK_") {
			out = append(out, kv)
		}
	}
	return out
}
