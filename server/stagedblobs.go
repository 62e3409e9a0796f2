package server

import (
	"context"
	"io"

	"hallmark.dev/hallmark/store"
)

// Stage implements store.StagingBlobs: the publisher syncs a batch's
// metadata files ahead of its commit and renames them afterwards. The file
// cache hears of a staged blob when it is published, not before: until
// then the path still holds the old blob.
func (n *notifyingBlobs) Stage(ctx context.Context, path string, r io.Reader) (store.StagedBlob, error) {
	return n.stage(ctx, path, r, false)
}

// StageDeferred implements store.DeferredSyncBlobs, as Stage does.
func (n *notifyingBlobs) StageDeferred(ctx context.Context, path string, r io.Reader) (store.StagedBlob, error) {
	return n.stage(ctx, path, r, true)
}

// PutDeferred implements store.DeferredSyncBlobs, as Put does.
func (n *notifyingBlobs) PutDeferred(ctx context.Context, path string, r io.Reader) error {
	err := store.PutDeferred(ctx, n.Blobs, path, r)
	n.failed("put", err)
	n.changed(path, false)
	return err
}

// Sync implements store.DeferredSyncBlobs.
func (n *notifyingBlobs) Sync(ctx context.Context) error {
	err := store.SyncDeferred(ctx, n.Blobs)
	n.failed("sync", err)
	return err
}

func (n *notifyingBlobs) stage(ctx context.Context, path string, r io.Reader, deferred bool) (store.StagedBlob, error) {
	var s store.StagedBlob
	var err error
	if inner, ok := n.Blobs.(store.DeferredSyncBlobs); ok && deferred {
		s, err = inner.StageDeferred(ctx, path, r)
	} else if inner, ok := n.Blobs.(store.StagingBlobs); ok {
		s, err = inner.Stage(ctx, path, r)
	} else {
		var data []byte
		if data, err = io.ReadAll(r); err == nil {
			s, err = store.Stage(ctx, n.Blobs, path, data)
		}
	}
	n.failed("put", err)
	if err != nil {
		return nil, err
	}
	return &notifyingStaged{StagedBlob: s, n: n, path: path}, nil
}

type notifyingStaged struct {
	store.StagedBlob
	n    *notifyingBlobs
	path string
}

// Publish implements store.StagedBlob.
func (s *notifyingStaged) Publish(ctx context.Context) error {
	err := s.StagedBlob.Publish(ctx)
	s.n.failed("put", err)
	s.n.changed(s.path, false)
	return err
}
