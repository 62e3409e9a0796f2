package blobdir_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

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
	storetest.BlobPathsCannotEscape(t, d)
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

// TestRemoveTemporary: temporary files a crash left behind are removed at
// start-up, wherever they are; blobs, files of other names and temporary
// files of writes begun after start-up stay.
func TestRemoveTemporary(t *testing.T) {
	d, _ := newDir(t)
	root := d.Root()
	for _, p := range []string{"metadata/0/1.root.json", "targets/p/1.0.0/abc.p.tar.gz"} {
		if err := d.Put(ctx, p, strings.NewReader("blob")); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-time.Minute)
	plant := func(rel string, size int, mod time.Time) string {
		name := filepath.Join(root, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(name, make([]byte, size), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(name, mod, mod); err != nil {
			t.Fatal(err)
		}
		return name
	}
	leftovers := []string{
		plant("metadata/0/.tmp-0123456789abcdef", 100, old),
		plant("targets/p/1.0.0/.tmp-fedcba9876543210", 1<<20, old),
		plant(".tmp-top", 1, old),
	}
	start := time.Now().Add(-time.Second)
	kept := []string{
		plant("targets/p/1.0.0/.tmp-inflight", 10, time.Now()), // a write after start-up
		plant("targets/p/1.0.0/tmp-not-ours", 10, old),
		plant("metadata/0/x.tmp-", 10, old),
	}
	files, bytes, err := d.RemoveTemporary(ctx, start)
	if err != nil {
		t.Fatal(err)
	}
	if files != 3 || bytes != 100+1<<20+1 {
		t.Fatalf("RemoveTemporary = %d files, %d bytes; want 3 files, %d bytes", files, bytes, 100+1<<20+1)
	}
	for _, name := range leftovers {
		if _, err := os.Stat(name); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s is still there (%v)", name, err)
		}
	}
	for _, name := range kept {
		if _, err := os.Stat(name); err != nil {
			t.Errorf("%s was removed: %v", name, err)
		}
	}
	for _, p := range []string{"metadata/0/1.root.json", "targets/p/1.0.0/abc.p.tar.gz"} {
		if got := read(t, d, p); got != "blob" {
			t.Errorf("%s = %q after the clean-up", p, got)
		}
	}
	if files, _, err := d.RemoveTemporary(ctx, start); err != nil || files != 0 {
		t.Fatalf("second RemoveTemporary = %d, %v; want 0, nil", files, err)
	}
}

// A staged blob is invisible until published: readers see the old blob (or
// none) while it waits, a discarded one changes nothing, and a staged file
// a crash left behind is removed at start-up like any temporary file.
func TestStageThenPublishOrDiscard(t *testing.T) {
	const p = "metadata/0a/3.snapshot.json"
	tests := []struct {
		name    string
		old     string // blob before staging; "" for none
		publish bool
		want    string // blob afterwards; "" for none
	}{
		{"published over nothing", "", true, "new"},
		{"published over an old blob", "old", true, "new"},
		{"discarded, nothing there", "", false, ""},
		{"discarded, old blob kept", "old", false, "old"},
	}
	stages := []struct {
		name  string
		stage func(d *blobdir.Dir) (store.StagedBlob, error)
	}{
		{"synced", func(d *blobdir.Dir) (store.StagedBlob, error) { return d.Stage(ctx, p, strings.NewReader("new")) }},
		{"deferred", func(d *blobdir.Dir) (store.StagedBlob, error) {
			s, err := d.StageDeferred(ctx, p, strings.NewReader("new"))
			if err == nil {
				err = d.Sync(ctx)
			}
			return s, err
		}},
	}
	for _, st := range stages {
		for _, tc := range tests {
			t.Run(st.name+"/"+tc.name, func(t *testing.T) {
				stageThenPublishOrDiscard(t, p, st.stage, tc.old, tc.publish, tc.want)
			})
		}
	}

	// A crash between staging and publishing leaves a temporary file that
	// start-up removes, and the blob as it was.
	d, _ := newDir(t)
	if _, err := d.Stage(ctx, p, strings.NewReader("never published")); err != nil {
		t.Fatal(err)
	}
	files, _, err := d.RemoveTemporary(ctx, time.Now().Add(time.Second))
	if err != nil || files != 1 {
		t.Fatalf("RemoveTemporary removed %d files (%v); want the 1 staged file", files, err)
	}
	if ok, _ := d.Exists(ctx, p); ok {
		t.Error("a staged blob became visible without Publish")
	}
}

// stageThenPublishOrDiscard stages "new" at p over old ("" for no blob),
// publishes or discards it, and checks the blob is want ("" for none).
func stageThenPublishOrDiscard(t *testing.T, p string, stage func(*blobdir.Dir) (store.StagedBlob, error), old string, publish bool, want string) {
	t.Helper()
	d, _ := newDir(t)
	if old != "" {
		if err := d.Put(ctx, p, strings.NewReader(old)); err != nil {
			t.Fatal(err)
		}
	}
	s, err := stage(d)
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := d.Exists(ctx, p); ok != (old != "") {
		t.Fatalf("while staged: Exists = %v; want %v", ok, old != "")
	}
	if old != "" {
		if got := read(t, d, p); got != old {
			t.Fatalf("while staged: read %q; want the old %q", got, old)
		}
	}
	if publish {
		if err := s.Publish(ctx); err != nil {
			t.Fatal(err)
		}
	} else {
		s.Discard()
	}
	if want == "" {
		if ok, _ := d.Exists(ctx, p); ok {
			t.Errorf("a discarded blob is visible")
		}
	} else if got := read(t, d, p); got != want {
		t.Errorf("read %q; want %q", got, want)
	}
	entries, err := os.ReadDir(filepath.Dir(filepath.Join(d.Root(), filepath.FromSlash(p))))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
}

// Deferred writes from many writers at once are each visible as Put makes
// them, world-readable, with no temporary file left, and the Syncs they
// call concurrently (gathered into few syncfs calls) all succeed.
func TestDeferredWritesAndConcurrentSyncs(t *testing.T) {
	d, _ := newDir(t)
	const writers = 32
	errs := make(chan error, writers)
	for i := range writers {
		go func() {
			p := fmt.Sprintf("targets/p%d/1.0.0/%064d.p.tar.gz", i%4, i)
			err := d.PutDeferred(ctx, p, strings.NewReader(p))
			if err == nil {
				err = d.Sync(ctx)
			}
			errs <- err
		}()
	}
	for range writers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	for i := range writers {
		p := fmt.Sprintf("targets/p%d/1.0.0/%064d.p.tar.gz", i%4, i)
		if got := read(t, d, p); got != p {
			t.Errorf("%s holds %q", p, got)
		}
		st, err := os.Stat(filepath.Join(d.Root(), filepath.FromSlash(p)))
		if err != nil || st.Mode().Perm() != 0o644 {
			t.Errorf("%s: mode %v (%v); want 0644", p, st.Mode(), err)
		}
	}
	if n, _, err := d.RemoveTemporary(ctx, time.Now().Add(time.Second)); err != nil || n != 0 {
		t.Errorf("RemoveTemporary found %d leftovers (%v); want none", n, err)
	}
}
