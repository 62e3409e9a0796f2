package storetest

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"hallmark.dev/hallmark/store"
)

// BlobBackend opens blob stores of one implementation for RunBlobs.
type BlobBackend struct {
	// New returns a new, empty blob store.
	New func(t *testing.T) store.Blobs
}

// RunBlobs runs every blob store test against b.
func RunBlobs(t *testing.T, b BlobBackend) {
	for _, tt := range []struct {
		name string
		run  func(*testing.T, store.Blobs)
	}{
		{"PutOpenExistsDelete", testPutOpenExistsDelete},
		{"PutReplacesWhole", testPutReplacesWhole},
		{"BlobPathsCannotEscape", BlobPathsCannotEscape},
	} {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, b.New(t)) })
	}
}

// ReadBlob reads a whole blob, checking that Size tells its length.
func ReadBlob(t *testing.T, d store.Blobs, p string) string {
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

func testPutOpenExistsDelete(t *testing.T, d store.Blobs) {
	const p = "metadata/0a/3.snapshot.json"
	if ok, err := d.Exists(ctx, p); ok || err != nil {
		t.Errorf("Exists before Put = %v, %v", ok, err)
	}
	if _, err := d.Open(ctx, p); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Open before Put: %v; want ErrNotFound", err)
	}
	if err := d.Put(ctx, p, strings.NewReader("snapshot v3")); err != nil {
		t.Fatal(err)
	}
	if got := ReadBlob(t, d, p); got != "snapshot v3" {
		t.Errorf("read %q", got)
	}
	if ok, err := d.Exists(ctx, p); !ok || err != nil {
		t.Errorf("Exists after Put = %v, %v", ok, err)
	}
	// A directory (a prefix of other blobs) is not a blob.
	if ok, _ := d.Exists(ctx, "metadata/0a"); ok {
		t.Error("Exists(directory) = true")
	}
	if _, err := d.Open(ctx, "metadata/0a"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Open(directory): %v; want ErrNotFound", err)
	}
	// A reader of unknown length is stored whole too.
	big := strings.Repeat("0123456789abcdef", 1<<16) // 1 MiB
	if err := d.Put(ctx, "targets/p/1.0.0/big", io.MultiReader(strings.NewReader(big[:10]), strings.NewReader(big[10:]))); err != nil {
		t.Fatal(err)
	}
	if got := ReadBlob(t, d, "targets/p/1.0.0/big"); got != big {
		t.Errorf("read %d bytes of a 1 MiB blob written from a stream", len(got))
	}
	if err := d.Delete(ctx, p); err != nil {
		t.Fatal(err)
	}
	if ok, _ := d.Exists(ctx, p); ok {
		t.Error("Exists after Delete = true")
	}
	if err := d.Delete(ctx, p); err != nil {
		t.Errorf("Delete of a missing blob: %v", err)
	}
}

// A replaced blob reads whole and new; a failed or cancelled Put leaves
// the old blob whole.
func testPutReplacesWhole(t *testing.T, d store.Blobs) {
	const p = "metadata/0/timestamp.json"
	for _, v := range []string{"timestamp v1", "timestamp v2, longer"} {
		if err := d.Put(ctx, p, strings.NewReader(v)); err != nil {
			t.Fatal(err)
		}
		if got := ReadBlob(t, d, p); got != v {
			t.Errorf("after Put(%q) read %q", v, got)
		}
	}
	failing := io.MultiReader(strings.NewReader("half a timest"), errReader{})
	if err := d.Put(ctx, p, failing); err == nil {
		t.Fatal("Put from a failing reader succeeded")
	}
	if got := ReadBlob(t, d, p); got != "timestamp v2, longer" {
		t.Errorf("after a failed Put read %q", got)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := d.Put(cancelled, p, strings.NewReader("timestamp v3")); err == nil {
		t.Error("Put with a cancelled context succeeded")
	}
	if got := ReadBlob(t, d, p); got != "timestamp v2, longer" {
		t.Errorf("after a cancelled Put read %q", got)
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("disk on fire") }

// BlobPathsCannotEscape attacks d with blob paths that leave the store's
// root: every operation refuses them. A store with a root on disk also
// checks, after it, that nothing outside changed.
func BlobPathsCannotEscape(t *testing.T, d store.Blobs) {
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
}
