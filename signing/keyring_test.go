package signing_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"hallmark.dev/hallmark/signing"
)

func TestKeyringCreateLoad(t *testing.T) {
	r := signing.Keyring{Dir: filepath.Join(t.TempDir(), "keys")}
	pass := []byte("pw")
	k, err := r.Create("alice", "Alice <alice@example.org>", pass)
	if err != nil {
		t.Fatal(err)
	}
	got, err := r.Load("alice", pass)
	if err != nil || got.ID() != k.ID() || got.Label() != k.Label() {
		t.Fatalf("Load = %v, %v", got, err)
	}
	if _, err := r.Load("alice", []byte("nope")); !errors.Is(err, signing.ErrWrongPassphrase) {
		t.Errorf("Load with the wrong passphrase: %v", err)
	}
	pub, err := r.Public("alice")
	if err != nil || pub.ID() != k.ID() {
		t.Errorf("Public = %v, %v", pub, err)
	}
	if _, err := r.Load("bob", pass); !errors.Is(err, signing.ErrNoKey) {
		t.Errorf("Load of a missing key: %v; want ErrNoKey", err)
	}
	st, err := os.Stat(filepath.Join(r.Dir, "alice.key"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		t.Errorf("key file mode %v is readable by others", st.Mode().Perm())
	}
	if _, err := r.Create("bob", "", pass); err != nil {
		t.Fatal(err)
	}
	names, err := r.Names()
	if err != nil || !slices.Equal(names, []string{"alice", "bob"}) {
		t.Errorf("Names = %v, %v", names, err)
	}
}

// Creating a key under an existing name must never destroy the old key:
// it may be the only copy of a project owner's key.
func TestKeyringCreateRefusesToOverwrite(t *testing.T) {
	r := signing.Keyring{Dir: t.TempDir()}
	k, err := r.Create("alice", "first", nil)
	if err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(filepath.Join(r.Dir, "alice.key"))
	if _, err := r.Create("alice", "second", nil); err == nil {
		t.Fatal("Create overwrote an existing key")
	}
	after, _ := os.ReadFile(filepath.Join(r.Dir, "alice.key"))
	if string(before) != string(after) {
		t.Error("the existing key file changed")
	}
	if got, err := r.Load("alice", nil); err != nil || got.ID() != k.ID() {
		t.Errorf("Load after refused Create = %v, %v", got, err)
	}
}

// Attack: a key name that walks out of the key directory.
func TestKeyringRefusesBadNames(t *testing.T) {
	base := t.TempDir()
	r := signing.Keyring{Dir: filepath.Join(base, "keys")}
	for _, name := range []string{"", "../escape", "a/b", `a\b`, ".hidden", "-flag", "a b", "é", "/abs", strings.Repeat("a", 65)} {
		if _, err := r.Create(name, "", nil); err == nil {
			t.Errorf("Create(%q) accepted a bad name", name)
		}
		if _, err := r.Load(name, nil); err == nil || errors.Is(err, signing.ErrNoKey) {
			t.Errorf("Load(%q) = %v; want a bad-name error", name, err)
		}
	}
	if _, err := os.Stat(filepath.Join(base, "escape.key")); err == nil {
		t.Error("a key was written outside the key directory")
	}
}

func TestKeyringNamesOfMissingDirectory(t *testing.T) {
	r := signing.Keyring{Dir: filepath.Join(t.TempDir(), "none")}
	if names, err := r.Names(); err != nil || len(names) != 0 {
		t.Errorf("Names = %v, %v", names, err)
	}
}
