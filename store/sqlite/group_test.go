package sqlite

import (
	"context"
	"path/filepath"
	"testing"

	"hallmark.dev/hallmark/store/storetest"
)

// groupHold gathers a test's publications into one group commit of db.
func groupHold(db *DB) storetest.GroupHold {
	return storetest.HoldOf(&db.commits, db.transactions.Load)
}

func openGroupTest(t *testing.T) *DB {
	db, err := Open(context.Background(), filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// Publications that arrive together are committed in one transaction.
func TestGroupCommitIsOneTransaction(t *testing.T) {
	db := openGroupTest(t)
	storetest.CheckGroupCommitIsOneTransaction(t, db, groupHold(db))
}

// A group of publications committed together: the ones that conflict
// leave nothing behind, every other one is committed whole, and each
// caller gets its own answer.
func TestGroupCommitIsolatesARefusedPublication(t *testing.T) {
	db := openGroupTest(t)
	storetest.CheckGroupCommitIsolatesARefusedPublication(t, db, groupHold(db))
}
