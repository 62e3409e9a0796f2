package publish_test

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"

	"hallmark.dev/hallmark/layout"
	"hallmark.dev/hallmark/publish"
	"hallmark.dev/hallmark/store"
)

// opLog records, in order, what a publisher asks of its blob store and its
// state store.
type opLog struct {
	mu  sync.Mutex
	ops []string
}

func (l *opLog) add(format string, args ...any) {
	l.mu.Lock()
	l.ops = append(l.ops, fmt.Sprintf(format, args...))
	l.mu.Unlock()
}

func (l *opLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	ops := l.ops
	l.ops = nil
	return ops
}

// recordingBlobs is a real blob directory that logs each write, sync and
// rename.
type recordingBlobs struct {
	store.DeferredSyncBlobs
	log *opLog
}

func (b recordingBlobs) Put(ctx context.Context, path string, r io.Reader) error {
	b.log.add("put %s", path)
	return b.DeferredSyncBlobs.Put(ctx, path, r)
}

func (b recordingBlobs) PutDeferred(ctx context.Context, path string, r io.Reader) error {
	b.log.add("deferred %s", path)
	return b.DeferredSyncBlobs.PutDeferred(ctx, path, r)
}

func (b recordingBlobs) StageDeferred(ctx context.Context, path string, r io.Reader) (store.StagedBlob, error) {
	b.log.add("deferred %s", path)
	s, err := b.DeferredSyncBlobs.StageDeferred(ctx, path, r)
	return recordingStaged{s, path, b.log}, err
}

func (b recordingBlobs) Stage(ctx context.Context, path string, r io.Reader) (store.StagedBlob, error) {
	b.log.add("staged %s", path)
	s, err := b.DeferredSyncBlobs.Stage(ctx, path, r)
	return recordingStaged{s, path, b.log}, err
}

func (b recordingBlobs) Sync(ctx context.Context) error {
	b.log.add("sync")
	return b.DeferredSyncBlobs.Sync(ctx)
}

type recordingStaged struct {
	store.StagedBlob
	path string
	log  *opLog
}

func (s recordingStaged) Publish(ctx context.Context) error {
	s.log.add("rename %s", s.path)
	return s.StagedBlob.Publish(ctx)
}

type recordingState struct {
	store.State
	log *opLog
}

func (s recordingState) Commit(ctx context.Context, p store.Publication) error {
	s.log.add("commit %s", p.Shard)
	return s.State.Commit(ctx, p)
}

// Every file a batch writes without its own sync is made durable, by the
// blob store's Sync, before the commit that publishes it; every versioned
// file is renamed into place only after that commit, and timestamp.json
// last. (A shard's batches run one after another, so one batch's renames
// are made durable by the next batch's Sync, before its commit: at a crash
// only a shard's last publication can lack files, which repair redoes.)
// Checked on the operations a real publisher asks of a real
// blob directory and a real SQLite store, for a creation and two releases.
func TestEveryFileIsDurableBeforeItsCommit(t *testing.T) {
	r := newRepo(t)
	log := &opLog{}
	r.restartPublisher(func(c *publish.Config) {
		c.Blobs = recordingBlobs{r.blobs, log}
		c.State = recordingState{r.state, log}
	})
	shard := layout.ShardOf("demo", shards)
	tsPath := layout.MetadataBlobPath(shard, "timestamp.json")
	changes := []func() *publish.Change{
		func() *publish.Change { return createChange(t, "demo", alice, r.clock.Now()) },
		func() *publish.Change {
			return r.planRelease("demo").add("1.0.0", map[string]string{"demo-1.0.0.tar.gz": "one"}).change(t, alice)
		},
		func() *publish.Change {
			return r.planRelease("demo").add("1.1.0", map[string]string{"demo-1.1.0.tar.gz": "two", "demo-1.1.0.whl": "wheel"}).change(t, alice)
		},
	}
	for i, change := range changes {
		r.mustAccept(change())
		ops := log.take()
		commit := slices.Index(ops, "commit "+shard)
		if commit < 0 || slices.Contains(ops[commit+1:], "commit "+shard) {
			t.Fatalf("change %d: want one commit, got %q", i, ops)
		}
		lastSync := -1
		for k, op := range ops[:commit] {
			if op == "sync" {
				lastSync = k
			}
		}
		var deferred, renames []string
		for k, op := range ops {
			switch {
			case strings.HasPrefix(op, "deferred "):
				deferred = append(deferred, strings.TrimPrefix(op, "deferred "))
				if k > lastSync {
					t.Errorf("change %d: %s written after the last sync before the commit: %q", i, op, ops)
				}
			case strings.HasPrefix(op, "rename "):
				renames = append(renames, strings.TrimPrefix(op, "rename "))
				if k < commit {
					t.Errorf("change %d: %s before the commit: %q", i, op, ops)
				}
			case strings.HasPrefix(op, "staged "), strings.HasPrefix(op, "put "):
				t.Errorf("change %d: %s synced on its own (the blob store defers syncs): %q", i, op, ops)
			}
		}
		var targets, metadata int
		for _, p := range deferred {
			switch {
			case strings.HasPrefix(p, "targets/"):
				targets++
			case strings.HasPrefix(p, "metadata/"+shard+"/"):
				metadata++
			}
		}
		// The creation uploads the index; each release its files and the
		// index; each batch stages the snapshot, the timestamp and the
		// roles it changed.
		if targets < 1 || metadata < 3 {
			t.Errorf("change %d: deferred writes %q; want the target files and the staged metadata", i, deferred)
		}
		if len(renames) == 0 || renames[len(renames)-1] != tsPath {
			t.Errorf("change %d: renames %q; want %s last", i, renames, tsPath)
		}
		if len(renames) != metadata {
			t.Errorf("change %d: %d staged metadata files, %d renamed", i, metadata, len(renames))
		}
	}
	r.checkShardServed(shard)
}
