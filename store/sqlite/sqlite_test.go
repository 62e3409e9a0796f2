package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"hallmark.dev/hallmark/store"
	"hallmark.dev/hallmark/store/sqlite"
	"hallmark.dev/hallmark/store/storetest"
)

// The shared suite of every state store, on SQLite.
func TestStoreSuite(t *testing.T) { storetest.Run(t, backend) }

var backend = storetest.Backend{
	New: func(t testing.TB) string { return filepath.Join(t.TempDir(), "state.db") },
	Open: func(t testing.TB, path string) (store.State, error) {
		return sqlite.Open(context.Background(), path)
	},
}
