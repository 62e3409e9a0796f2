package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestReleaseUploadRetriesAndLookAlikeVersions: an identical re-upload (a CI
// retry) succeeds and changes nothing; the same version with other files,
// and a version differing only in build metadata, are refused clearly.
func TestReleaseUploadRetriesAndLookAlikeVersions(t *testing.T) {
	srv := StartServer(t)
	alice := NewMaintainer(t, srv, "alice")
	alice.MustRun("project", "create", "retry-demo", "--key", "alice")
	dir := t.TempDir()
	f := WriteFile(t, dir, "retry-demo-1.2.0.txt", []byte("one two"))
	alice.MustRun("release", "upload", "retry-demo", "1.2.0+build.1", f, "--yes")

	r := alice.MustRun("release", "upload", "retry-demo", "1.2.0+build.1", f, "--yes")
	if !strings.Contains(r.Stderr, "retry-demo 1.2.0+build.1 is already published with exactly these files; nothing to do") {
		t.Fatalf("an identical re-upload does not say it is already published:\n%s", r.Stderr)
	}
	if got := alice.MustRun("release", "upload", "retry-demo", "1.2.0+build.1", f, "--json").Stdout; !strings.Contains(got, `"status": "already_published"`) {
		t.Fatalf("re-upload --json = %s", got)
	}
	other := WriteFile(t, t.TempDir(), "retry-demo-1.2.0.txt", []byte("changed"))
	alice.MustFail("already published with other files", "release", "upload", "retry-demo", "1.2.0+build.1", other)
	alice.MustFail("same release as the published 1.2.0+build.1", "release", "upload", "retry-demo", "1.2.0+build.2", f)
	alice.MustFail("same release as the published 1.2.0+build.1", "release", "upload", "retry-demo", "1.2.0", f)
	if got := alice.MustRun("versions", "retry-demo").Stdout; got != "1.2.0+build.1\n" {
		t.Fatalf("versions = %q", got)
	}
}

// TestInterruptedUpload: an upload stopped half-way leaves nothing staged on
// the server, promptly; the CLI interrupted by Ctrl-C says what happened.
func TestInterruptedUpload(t *testing.T) {
	srv := StartServer(t)
	// The replica that takes the upload stages it in its own data
	// directory.
	staged := func() int {
		n := 0
		for _, dir := range srv.DataDirs() {
			files, _ := os.ReadDir(filepath.Join(dir, "staging"))
			n += len(files)
		}
		return n
	}

	// A client that sends 2 MiB of a file (beyond what is staged in memory)
	// and then disappears.
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/api/v1/projects/x/changes", pr)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	part, _ := mw.CreateFormField("change")
	part.Write([]byte(`{"project":"x"}`))
	file, _ := mw.CreateFormFile("x/1.0.0/big.bin", "big.bin")
	file.Write(bytes.Repeat([]byte("x"), 2<<20))
	waitFor(t, 10*time.Second, "a staged file", func() bool { return staged() > 0 })
	cancel()
	pw.CloseWithError(context.Canceled)
	<-done
	waitFor(t, 5*time.Second, "the staging directory to be empty", func() bool { return staged() == 0 })

	// The CLI, interrupted while it uploads a large file.
	alice := NewMaintainer(t, srv, "alice")
	alice.MustRun("project", "create", "stop-demo", "--key", "alice")
	big := filepath.Join(t.TempDir(), "stop-demo.bin")
	if err := os.WriteFile(big, bytes.Repeat([]byte("y"), 256<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binary, "release", "upload", "stop-demo", "1.0.0", big, "--yes")
	cmd.Env = append(os.Environ(), alice.Env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "the upload to reach the server", func() bool { return staged() > 0 })
	cmd.Process.Signal(syscall.SIGINT)
	err = cmd.Wait()
	if err == nil {
		t.Skip("the upload finished before it could be interrupted")
	}
	if !strings.Contains(stderr.String(), "interrupted before the repository answered") {
		t.Errorf("an interrupted upload says:\n%s", stderr.String())
	}
	waitFor(t, 5*time.Second, "the staging directory to be empty", func() bool { return staged() == 0 })
	alice.MustFail("has no version 1.0.0", "get", "stop-demo@1.0.0", "-o", t.TempDir())
}

func waitFor(t testing.TB, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestProjectDetailsAreSignedWithReleases: a description, README, links and
// licence set with release upload travel in the signed index: project show
// (verified), the web page and a yank keep them; upload dates are shown per
// release; a bad link is refused and changes nothing.
func TestProjectDetailsAreSignedWithReleases(t *testing.T) {
	srv := StartServer(t)
	alice := NewMaintainer(t, srv, "alice")
	alice.MustRun("project", "create", "about-demo", "--key", "alice")
	dir := t.TempDir()
	readme := WriteFile(t, dir, "README.md", []byte("# about-demo\n\nSays <hello>.\n"))
	f := WriteFile(t, dir, "about-demo-1.0.0.txt", []byte("1.0.0"))

	alice.MustFail("the homepage \"javascript:alert(1)\" must be an http:// or https:// URL", "release", "upload", "about-demo", "1.0.0", f, "--homepage", "javascript:alert(1)")
	r := alice.MustRun("release", "upload", "about-demo", "1.0.0", f, "--yes", "--description", "Says hello", "--license", "MIT",
		"--homepage", "https://about.example.org", "--repository", "https://git.example.org/about-demo", "--readme", readme)
	for _, want := range []string{`set the description to "Says hello"`, `set the licence to "MIT"`, "set the README: 4 line(s)"} {
		if !strings.Contains(r.Stderr, want) {
			t.Errorf("upload does not explain %q:\n%s", want, r.Stderr)
		}
	}
	// Details stay when later changes do not name them.
	alice.MustRun("release", "upload", "about-demo", "1.1.0", WriteFile(t, dir, "about-demo-1.1.0.txt", []byte("1.1.0")), "--yes")
	alice.MustRun("release", "yank", "about-demo", "1.1.0", "--reason", "oops", "--yes")
	details := WriteFile(t, dir, "details.json", []byte(`{"description": "Says hello, politely"}`))
	alice.MustRun("release", "upload", "about-demo", "1.2.0", WriteFile(t, dir, "about-demo-1.2.0.txt", []byte("1.2.0")), "--yes", "--details", details)

	bob := NewMaintainer(t, srv, "bob")
	show := bob.MustRun("project", "show", "about-demo").Stdout
	for _, want := range []string{"description  Says hello, politely", "homepage     https://about.example.org", "repository   https://git.example.org/about-demo", "licence      MIT", "readme       4 line(s)", "uploaded 20"} {
		if !strings.Contains(show, want) {
			t.Errorf("project show lacks %q:\n%s", want, show)
		}
	}
	var js struct {
		Meta     struct{ Readme string }
		Releases []struct{ Uploaded string }
	}
	if err := json.Unmarshal([]byte(bob.MustRun("project", "show", "about-demo", "--json").Stdout), &js); err != nil {
		t.Fatal(err)
	}
	if js.Meta.Readme != "# about-demo\n\nSays <hello>.\n" || len(js.Releases) != 3 || js.Releases[0].Uploaded == "" {
		t.Fatalf("project show --json = %+v", js)
	}
	page := govPage(t, srv.URL+"/p/about-demo")
	for _, want := range []string{`id="description">Says hello, politely<`, `href="https://about.example.org"`, `id="license">MIT<`, "Says &lt;hello&gt;.", ", uploaded 20"} {
		if !strings.Contains(page, want) {
			t.Errorf("the web page lacks %q", want)
		}
	}
}
