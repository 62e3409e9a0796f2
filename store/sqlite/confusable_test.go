package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"hallmark.dev/hallmark/store/sqlite"
	"hallmark.dev/hallmark/store/storetest"
)

// Beyond the shared suite's ProjectLike test: projects stored before
// skeletons were kept are found too (filled in when the database opens).
func TestProjectLikeFillsSkeletonsOfOldDatabases(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	storetest.CheckProjectLike(t, db, true)
	db.Close()
	raw, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`DELETE FROM skeletons`); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	again, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	storetest.CheckProjectLike(t, again, false)
}
