package blobdir_test

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"hallmark.dev/hallmark/store"
	"hallmark.dev/hallmark/store/blobdir"
	"hallmark.dev/hallmark/store/storetest"
)

var ctx = context.Background()

func newDir(t *testing.T) (*blobdir.Dir, string) {
	t.Helper()
	base := t.TempDir()
	d, err := blobdir.Open(filepath.Join(base, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	return d, base
}

func read(t *testing.T, d *blobdir.Dir, p string) string {
	t.Helper()
	b, err := d.Open(ctx, p)
	if err != nil {
		t.Fatalf("Open(%s): %v", p, err)
	}
	defer b.Close()
	data, err := io.ReadAll(b)
	if err != nil {
		t.Fatal(err)
	}
	if b.Size() != int64(len(data)) {
		t.Errorf("Size() = %d; read %d bytes", b.Size(), len(data))
	}
	return string(data)
}

// The shared suite of every blob store, on a directory.
func TestBlobSuite(t *testing.T) {
	storetest.RunBlobs(t, storetest.BlobBackend{New: func(t *testing.T) store.Blobs {
		d, _ := newDir(t)
		return d
	}})
}

// Beyond the suite: a reader that opened the old file keeps reading the
// old bytes, and no temporary file is left behind.
func TestPutReplacesAtomically(t *testing.T) {
	d, _ := newDir(t)
	const p = "metadata/0/timestamp.json"
	if err := d.Put(ctx, p, strings.NewReader("timestamp v1")); err != nil {
		t.Fatal(err)
	}
	// A reader that opened the old blob keeps reading the old bytes.
	old, err := d.Open(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	if err := d.Put(ctx, p, strings.NewReader("timestamp v2, longer")); err != nil {
		t.Fatal(err)
	}
	if got := read(t, d, p); got != "timestamp v2, longer" {
		t.Errorf("after replace read %q", got)
	}
	if b, _ := io.ReadAll(old); string(b) != "timestamp v1" {
		t.Errorf("the open old blob reads %q", b)
	}
	// A failed write leaves the old blob whole and no temporary file.
	failing := io.MultiReader(strings.NewReader("half a timest"), errReader{})
	if err := d.Put(ctx, p, failing); err == nil {
		t.Fatal("Put from a failing reader succeeded")
	}
	if got := read(t, d, p); got != "timestamp v2, longer" {
		t.Errorf("after a failed Put read %q", got)
	}
	// So does a cancelled one.
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := d.Put(cancelled, p, strings.NewReader("timestamp v3")); err == nil {
		t.Error("Put with a cancelled context succeeded")
	}
	if got := read(t, d, p); got != "timestamp v2, longer" {
		t.Errorf("after a cancelled Put read %q", got)
	}
	entries, err := os.ReadDir(filepath.Join(d.Root(), "metadata", "0"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != "timestamp.json" {
			t.Errorf("left behind %s", e.Name())
		}
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("disk on fire") }

// Attack: a blob path that leaves the blob directory.
func TestBlobPathsCannotEscape(t *testing.T) {
	d, base := newDir(t)
	if err := os.WriteFile(filepath.Join(base, "secret"), []byte("outside"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{
		"../secret", "../x", "/abs", "/etc/passwd", "a/../b", "a/../../secret", "./a", "a/./b",
		"a//b", "a/", "", ".", "..", `a\..\..\secret`, `..\secret`,
	} {
		if err := d.Put(ctx, p, strings.NewReader("evil")); err == nil {
			t.Errorf("Put(%q) succeeded", p)
		}
		if b, err := d.Open(ctx, p); err == nil {
			b.Close()
			t.Errorf("Open(%q) succeeded", p)
		}
		if ok, _ := d.Exists(ctx, p); ok {
			t.Errorf("Exists(%q) = true", p)
		}
		if err := d.Delete(ctx, p); err == nil {
			t.Errorf("Delete(%q) succeeded", p)
		}
	}
	if b, err := os.ReadFile(filepath.Join(base, "secret")); err != nil || string(b) != "outside" {
		t.Errorf("the file outside the blob directory changed: %q, %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(base, "x")); err == nil {
		t.Error("a blob was written outside the directory")
	}
}

// Blobs are world-readable whatever the process's umask, and a directory
// removed behind the store's back is made again.
func TestPutModeAndRemovedDirectory(t *testing.T) {
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	d, _ := newDir(t)
	const p = "targets/demo/1.0.0/abc.demo.tar.gz"
	if err := d.Put(ctx, p, strings.NewReader("one")); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(d.Root(), filepath.FromSlash(p)))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o644 {
		t.Errorf("blob mode %v; want 0644", fi.Mode().Perm())
	}
	if err := os.RemoveAll(filepath.Join(d.Root(), "targets", "demo")); err != nil {
		t.Fatal(err)
	}
	if err := d.Put(ctx, p, strings.NewReader("two")); err != nil {
		t.Fatalf("Put after its directory was removed: %v", err)
	}
	if got := read(t, d, p); got != "two" {
		t.Errorf("read %q", got)
	}
}
