package main

import (
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

func testRoot() *cobra.Command {
	return newRoot(&env{stdout: io.Discard, stderr: io.Discard, getenv: func(string) string { return "" }})
}

// words splits a shell line into words, keeping quoted strings whole and
// dropping a trailing comment.
func words(line string) []string {
	var out []string
	var cur strings.Builder
	quote := rune(0)
	in := false
	for _, r := range line {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '"' || r == '\'':
			quote, in = r, true
		case r == '#' && !in:
			return out
		case r == ' ' || r == '\t':
			if in {
				out = append(out, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteRune(r)
			in = true
		}
	}
	if in {
		out = append(out, cur.String())
	}
	return out
}

// checkCommandLine finds the command a line runs and parses its flags.
func checkCommandLine(t *testing.T, root *cobra.Command, line string) {
	t.Helper()
	w := words(line)
	for len(w) > 0 && strings.Contains(w[0], "=") { // VAR=value prefixes
		w = w[1:]
	}
	if len(w) == 0 || w[0] != "hallmark" {
		t.Errorf("%q does not run hallmark", line)
		return
	}
	c, rest, err := root.Find(w[1:])
	if err != nil || c == root {
		t.Errorf("%q names no hallmark command: %v", line, err)
		return
	}
	fresh, _, _ := testRoot().Find(strings.Fields(strings.TrimPrefix(c.CommandPath(), "hallmark ")))
	if err := fresh.ParseFlags(rest); err != nil {
		t.Errorf("%q: %v", line, err)
	}
}

// TestEveryCommandHasWorkingExamples: every command shows examples, and
// every example runs a real command with flags it has.
func TestEveryCommandHasWorkingExamples(t *testing.T) {
	root := testRoot()
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Name() == "help" || c.Name() == "completion" || c.Parent() != nil && c.Parent().Name() == "completion" {
			return
		}
		if strings.TrimSpace(c.Example) == "" {
			t.Errorf("%s has no example", c.CommandPath())
		}
		for _, line := range strings.Split(c.Example, "\n") {
			if strings.TrimSpace(line) != "" {
				checkCommandLine(t, root, strings.TrimSpace(line))
			}
		}
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	walk(root)
}

// hintRe finds a command a message tells the user to run: 'hallmark ...'.
var hintRe = regexp.MustCompile(`'hallmark ([a-z][a-z-]*(?: [a-z][a-z-]*)*)`)

// TestHintsNameRealCommands: every 'hallmark ...' a message of the tools or
// the server suggests is a command that exists.
func TestHintsNameRealCommands(t *testing.T) {
	root := testRoot()
	found := 0
	for _, dir := range []string{".", "../../maintainer", "../../admin", "../../server", "../../client", "../../explain", "../../publish", "../../validation"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range hintRe.FindAllStringSubmatch(string(src), -1) {
				found++
				args := strings.Fields(m[1])
				c, _, err := root.Find(args)
				if err != nil || c == root || !strings.HasPrefix("hallmark "+m[1], c.CommandPath()) {
					t.Errorf("%s suggests 'hallmark %s', which is not a command", f, m[1])
				}
			}
		}
	}
	if found < 20 {
		t.Fatalf("found only %d suggested commands; the scan is broken", found)
	}
}

// TestUnknownSubcommandFails: a typo in a subcommand is an error with a
// suggestion, not help and success.
func TestUnknownSubcommandFails(t *testing.T) {
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"release", "uplod"}, exitUsage, "did you mean 'hallmark release upload'?"},
		{[]string{"key", "generat"}, exitUsage, "did you mean 'hallmark key generate'?"},
		{[]string{"admin", "frobnicate"}, exitUsage, "unknown command \"frobnicate\" for \"hallmark admin\""},
		{[]string{"release"}, exitUsage, "hallmark release needs a command"},
		{[]string{"release", "upload", "--bogus"}, exitUsage, "see 'hallmark release upload --help'"},
		{[]string{"project", "threshold", "p", "--releases", "0"}, exitUsage, "--releases 0: a threshold is how many must sign, at least 1"},
		{[]string{"serve", "--repo", "http://x"}, exitUsage, "serve takes no --repo or --home"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var stderr strings.Builder
			e := &env{stdout: io.Discard, stderr: &stderr, stdin: strings.NewReader(""), getenv: func(string) string { return "" }}
			code := run(t.Context(), e, tt.args)
			if code != tt.code || !strings.Contains(stderr.String(), tt.want) {
				t.Fatalf("exit %d, stderr:\n%s\nwant exit %d and %q", code, stderr.String(), tt.code, tt.want)
			}
		})
	}
}

// TestServeHelpHidesClientFlags: serve's help lists the server's flags, not
// the client's --repo and --home.
func TestServeHelpHidesClientFlags(t *testing.T) {
	var out strings.Builder
	e := &env{stdout: &out, stderr: &out, getenv: func(string) string { return "" }}
	if code := run(t.Context(), e, []string{"serve", "--help"}); code != 0 {
		t.Fatalf("serve --help exit %d", code)
	}
	if strings.Contains(out.String(), "--repo") || strings.Contains(out.String(), "--home") || !strings.Contains(out.String(), "--data") {
		t.Fatalf("serve --help:\n%s", out.String())
	}
}
