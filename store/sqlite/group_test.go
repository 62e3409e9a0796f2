package sqlite

import (
	"context"
	"path/filepath"
	"testing"

	"hallmark.dev/hallmark/store/storetest"
)

// A group of publications committed together: the ones that conflict
// leave nothing behind, every other one is committed whole, and each
// caller gets its own answer.
func TestGroupCommitIsolatesARefusedPublication(t *testing.T) {
	db, err := Open(context.Background(), filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	storetest.CheckGroupCommitIsolatesARefusedPublication(t, db, storetest.GroupHold{
		Lock:   db.commits.Lock,
		Unlock: db.commits.Unlock,
		Queued: func() int {
			db.queueMu.Lock()
			defer db.queueMu.Unlock()
			return len(db.queue)
		},
	})
}
