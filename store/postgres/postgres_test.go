package postgres_test

import (
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"hallmark.dev/hallmark/internal/pgtest"
	"hallmark.dev/hallmark/store"
	"hallmark.dev/hallmark/store/postgres"
	"hallmark.dev/hallmark/store/storetest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	pgtest.StopShared()
	os.Exit(code)
}

var ctx = context.Background()

// migrated returns the URL of a new database at the current schema.
func migrated(t testing.TB) string {
	t.Helper()
	url := pgtest.NewDatabase(t)
	if _, _, err := postgres.Migrate(ctx, url); err != nil {
		t.Fatal(err)
	}
	return url
}

var backend = storetest.Backend{
	New: migrated,
	Open: func(t testing.TB, url string) (store.State, error) {
		return postgres.Open(ctx, url)
	},
}

// The shared suite of every state store, on PostgreSQL.
func TestStoreSuite(t *testing.T) { storetest.Run(t, backend) }

func BenchmarkCommit(b *testing.B) { storetest.BenchmarkCommit(b, backend) }

// Open checks the schema version: a database not migrated yet, or
// migrated by a newer hallmark, is refused with a message saying what to
// run; Migrate runs once and is then a no-op.
func TestSchemaVersionIsCheckedAtOpen(t *testing.T) {
	url := pgtest.NewDatabase(t)
	_, err := postgres.Open(ctx, url)
	if !errors.Is(err, postgres.ErrSchema) || !strings.Contains(err.Error(), "schema version 0") || !strings.Contains(err.Error(), "hallmark migrate") {
		t.Errorf("Open of an empty database: %v; want a schema error telling to run hallmark migrate", err)
	}
	from, to, err := postgres.Migrate(ctx, url)
	if err != nil || from != 0 || to != postgres.SchemaVersion() {
		t.Fatalf("Migrate = %d, %d, %v; want 0, %d", from, to, err, postgres.SchemaVersion())
	}
	if from, to, err := postgres.Migrate(ctx, url); err != nil || from != to || to != postgres.SchemaVersion() {
		t.Errorf("second Migrate = %d, %d, %v; want nothing to do", from, to, err)
	}
	db, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatalf("Open after Migrate: %v", err)
	}
	db.Close()

	// A newer hallmark migrated this database further.
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	newer := postgres.SchemaVersion() + 1
	if _, err := conn.Exec(ctx, `INSERT INTO schema_migrations (version) VALUES ($1)`, newer); err != nil {
		t.Fatal(err)
	}
	for name, try := range map[string]func() error{
		"Open":    func() error { _, err := postgres.Open(ctx, url); return err },
		"Migrate": func() error { _, _, err := postgres.Migrate(ctx, url); return err },
	} {
		err := try()
		if !errors.Is(err, postgres.ErrSchema) || !strings.Contains(err.Error(), "schema version "+strconv.Itoa(newer)) {
			t.Errorf("%s of a database at a newer schema: %v; want a refusal naming version %d", name, err, newer)
		}
	}
}

func TestOpenOfABadURLSaysSo(t *testing.T) {
	for _, url := range []string{"postgres://%zz", "mysql://x"} {
		if _, err := postgres.Open(ctx, url); err == nil || !strings.Contains(err.Error(), "database") {
			t.Errorf("Open(%q) = %v; want an error about the database URL", url, err)
		}
	}
}

// Projects stored before schema version 3 (no skeletons) are found by
// ProjectLike once the database is opened again.
func TestProjectLikeFillsSkeletonsOfOldDatabases(t *testing.T) {
	url := migrated(t)
	db, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	storetest.CheckProjectLike(t, db, true)
	db.Close()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `DELETE FROM skeletons`); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	again, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	storetest.CheckProjectLike(t, again, false)
}

// openMigrated opens a store on a new, migrated database, closed when the
// test ends.
func openMigrated(t *testing.T) *postgres.DB {
	t.Helper()
	db, err := postgres.Open(ctx, migrated(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// Publications that arrive together are committed in one transaction.
func TestGroupCommitIsOneTransaction(t *testing.T) {
	db := openMigrated(t)
	storetest.CheckGroupCommitIsOneTransaction(t, db, postgres.GroupHold(db))
}

// A group of publications committed together (group commit): the ones
// that conflict leave nothing behind, every other one is committed whole,
// and each caller gets its own answer.
func TestGroupCommitIsolatesARefusedPublication(t *testing.T) {
	db := openMigrated(t)
	storetest.CheckGroupCommitIsolatesARefusedPublication(t, db, postgres.GroupHold(db))
}
