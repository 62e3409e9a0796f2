package publish_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"hallmark.dev/hallmark/layout"
)

// A batch's metadata files and timestamp are synced before its commit and
// renamed after it. Attack on the order: the new snapshot cannot be put in
// place (its name is taken by a directory). The change stays published
// (the commit stands), but clients keep being served the old timestamp,
// never one that names a snapshot that is not there; no staged file is
// left behind; and once the obstacle is gone, repair serves everything.
func TestTimestampWaitsForEveryMetadataFile(t *testing.T) {
	r := newRepo(t)
	r.mustAccept(createChange(t, "demo", alice, r.clock.Now()))
	shard := layout.ShardOf("demo", shards)
	tsPath := layout.MetadataBlobPath(shard, "timestamp.json")
	served := r.blob(tsPath)
	next := r.version(shard, layout.RoleSnapshot) + 1
	snapDir := filepath.Join(r.blobs.Root(), filepath.FromSlash(layout.MetadataBlobPath(shard, layout.MetadataFile(layout.RoleSnapshot, next))))
	if err := os.MkdirAll(filepath.Join(snapDir, "taken"), 0o755); err != nil {
		t.Fatal(err)
	}

	res := r.mustAccept(r.planRelease("demo").add("1.0.0", map[string]string{"demo-1.0.0.tar.gz": "source"}).change(t, alice))
	if res.SnapshotVersion != next || r.version(shard, layout.RoleSnapshot) != next {
		t.Fatalf("release: snapshot %d, stored %d; want %d committed", res.SnapshotVersion, r.version(shard, layout.RoleSnapshot), next)
	}
	if got := r.blob(tsPath); !bytes.Equal(got, served) {
		t.Fatal("timestamp.json moved on although the snapshot it names could not be put in place")
	}
	entries, err := os.ReadDir(filepath.Dir(snapDir))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("staged file %s left behind", e.Name())
		}
	}

	if err := os.RemoveAll(snapDir); err != nil {
		t.Fatal(err)
	}
	if n, err := r.pub.Repair(ctx); err != nil || n != 2 {
		t.Fatalf("Repair = %d, %v; want the snapshot and the timestamp", n, err)
	}
	r.checkShardServed(shard)
}
