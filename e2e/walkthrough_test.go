package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestWalkthrough is the README walkthrough: generate a key, trust, create a
// project, upload a release, list versions, get it.
func TestWalkthrough(t *testing.T) {
	srv := StartServer(t)
	alice := NewMaintainer(t, srv, "alice")
	alice.MustRun("project", "create", "Hello_World", "--key", "alice")

	dir := t.TempDir()
	big := make([]byte, 5<<20)
	rand.Read(big)
	a := WriteFile(t, dir, "hello-1.0.0.tar.gz", []byte("hello 1.0.0"))
	b := WriteFile(t, dir, "hello-1.0.0-py3-none-any.whl", big)
	alice.MustRun("release", "upload", "hello-world", "1.0.0", a, b, "--key", "alice")
	c := WriteFile(t, dir, "hello-2.0.0-rc.1.tar.gz", []byte("hello 2.0.0-rc.1"))
	alice.MustRun("release", "upload", "hello-world", "2.0.0-rc.1", c)

	bob := NewUser(t, srv)
	bob.MustRun("trust", srv.URL, "--yes")
	if got := bob.MustRun("versions", "hello-world").Stdout; got != "2.0.0-rc.1\n1.0.0\n" {
		t.Fatalf("versions = %q", got)
	}
	var js struct {
		Project  string
		Versions []struct {
			Version string
			Latest  bool
		}
	}
	if err := json.Unmarshal([]byte(bob.MustRun("versions", "HELLO.world", "--json").Stdout), &js); err != nil {
		t.Fatal(err)
	}
	if js.Project != "hello-world" || len(js.Versions) != 2 || !js.Versions[1].Latest || js.Versions[0].Latest {
		t.Fatalf("versions --json = %+v", js)
	}

	// Latest skips the pre-release.
	out := t.TempDir()
	bob.MustRun("get", "hello-world", "-o", out)
	got, err := os.ReadFile(filepath.Join(out, "hello-1.0.0-py3-none-any.whl"))
	if err != nil || !bytes.Equal(got, big) {
		t.Fatalf("downloaded wheel differs (err %v)", err)
	}
	if _, err := os.Stat(filepath.Join(out, "hello-2.0.0-rc.1.tar.gz")); err == nil {
		t.Fatal("get without a version downloaded the pre-release")
	}
	// An exact pin gets the pre-release; --file picks one file.
	out2 := t.TempDir()
	bob.MustRun("get", "hello-world@1.0.0", "-o", out2, "--file", "hello-1.0.0.tar.gz")
	entries, _ := os.ReadDir(out2)
	if len(entries) != 1 || entries[0].Name() != "hello-1.0.0.tar.gz" {
		t.Fatalf("--file downloaded %v", entries)
	}
	bob.MustRun("get", "hello-world@2.0.0-rc.1", "-o", out2)

	// Errors name the problem and what to do.
	bob.MustFail("has no version 9.9.9", "get", "hello-world@9.9.9")
	bob.MustFail("project not found", "get", "no-such-project")
	r := bob.MustFail("has no file", "get", "hello-world@1.0.0", "--file", "nope")
	if !strings.Contains(r.Stderr, "hello-1.0.0.tar.gz") {
		t.Fatalf("error does not list the files: %s", r.Stderr)
	}
}

// TestUnpinnedRepositoryRefused: every client command refuses a repository
// the user has not trusted, and says how to trust it.
func TestUnpinnedRepositoryRefused(t *testing.T) {
	srv := StartServer(t)
	u := NewUser(t, srv)
	for _, args := range [][]string{{"versions", "x"}, {"get", "x"}, {"project", "create", "x"}} {
		r := u.MustFail("you have not trusted", args...)
		if !strings.Contains(r.Stderr, "hallmark trust "+srv.URL) {
			t.Errorf("%v: no hint how to trust: %s", args, r.Stderr)
		}
	}
	u.MustFail("differs from the expected", "trust", srv.URL, "--fingerprint", strings.Repeat("0", 64))
	u.MustFail("you have not trusted", "versions", "x")
}
