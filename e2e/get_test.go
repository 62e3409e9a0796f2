package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestGetSaysWhatItPickedAndKeepsYourFiles: `get` names the version it
// picked, says the project is not claimed yet, leaves identical files alone
// and refuses to overwrite a different file unless told to.
func TestGetSaysWhatItPickedAndKeepsYourFiles(t *testing.T) {
	srv := StartServer(t)
	alice := NewMaintainer(t, srv, "alice")
	alice.MustRun("project", "create", "get-demo", "--key", "alice")
	src := t.TempDir()
	alice.MustRun("release", "upload", "get-demo", "1.0.0", WriteFile(t, src, "get-demo.txt", []byte("one")), "--key", "alice")
	alice.MustRun("release", "upload", "get-demo", "2.0.0-rc.1", WriteFile(t, src, "get-demo.txt", []byte("two")), "--key", "alice")

	bob := NewMaintainer(t, srv, "bob")
	out := t.TempDir()
	r := bob.MustRun("get", "get-demo", "-o", out)
	for _, want := range []string{"picked get-demo 1.0.0, the latest release", "get-demo is not claimed yet by the repository's admins"} {
		if !strings.Contains(r.Stderr, want) {
			t.Errorf("get does not say %q:\n%s", want, r.Stderr)
		}
	}
	if r := bob.MustRun("versions", "get-demo"); !strings.Contains(r.Stderr, "not claimed yet") {
		t.Errorf("versions does not say the project is not claimed:\n%s", r.Stderr)
	}

	// The same file again: left alone.
	r = bob.MustRun("get", "get-demo@1.0.0", "-o", out)
	if !strings.Contains(r.Stderr, "already there and matches the signed file") {
		t.Errorf("an identical file is not reported as kept:\n%s", r.Stderr)
	}
	// Another version's file of the same name: refused, the file unchanged.
	bob.MustFail("refusing to overwrite", "get", "get-demo@2.0.0-rc.1", "-o", out)
	dest := filepath.Join(out, "get-demo.txt")
	if b, _ := os.ReadFile(dest); string(b) != "one" {
		t.Fatalf("a refused get changed the file: %q", b)
	}
	bob.MustRun("get", "get-demo@2.0.0-rc.1", "-o", out, "--overwrite")
	if b, _ := os.ReadFile(dest); string(b) != "two" {
		t.Fatalf("get --overwrite left %q", b)
	}
}
