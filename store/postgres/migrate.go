package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// migrations are the schema's versions: migrations[i] takes a database
// from version i to version i+1. Append, never edit: a database records
// the versions it has run.
var migrations = []string{
	// 1: the tables of store.State. Names and paths compare byte by byte
	// (COLLATE "C") whatever the database's locale: listing pages, search
	// ranges and the projects' order depend on it.
	`CREATE TABLE roles (
		shard TEXT COLLATE "C" NOT NULL, role TEXT COLLATE "C" NOT NULL, version BIGINT NOT NULL,
		expires TIMESTAMPTZ NOT NULL, data BYTEA NOT NULL,
		PRIMARY KEY (shard, role, version));
	CREATE TABLE current_roles (
		shard TEXT COLLATE "C" NOT NULL, role TEXT COLLATE "C" NOT NULL, version BIGINT NOT NULL,
		PRIMARY KEY (shard, role));
	CREATE TABLE projects (
		name TEXT COLLATE "C" PRIMARY KEY, display TEXT NOT NULL, shard TEXT NOT NULL,
		status TEXT NOT NULL, created TIMESTAMPTZ NOT NULL,
		blocked BOOLEAN NOT NULL DEFAULT false, block_reason TEXT NOT NULL DEFAULT '',
		owner_request BOOLEAN NOT NULL DEFAULT false);
	CREATE INDEX projects_status ON projects (status, name);
	CREATE TABLE files (
		project TEXT COLLATE "C" NOT NULL, path TEXT COLLATE "C" NOT NULL, sha256 TEXT NOT NULL,
		length BIGINT NOT NULL, removed BOOLEAN NOT NULL DEFAULT false,
		PRIMARY KEY (project, path));
	CREATE TABLE audit (
		id BIGSERIAL PRIMARY KEY, time TIMESTAMPTZ NOT NULL, project TEXT NOT NULL,
		action TEXT NOT NULL, detail TEXT NOT NULL, keyids TEXT[] NOT NULL);
	CREATE INDEX audit_project ON audit (project, id);
	CREATE TABLE pending (
		id TEXT PRIMARY KEY, project TEXT NOT NULL, created TIMESTAMPTZ NOT NULL, expires TIMESTAMPTZ NOT NULL,
		change BYTEA NOT NULL, files JSONB NOT NULL, summary TEXT NOT NULL);
	CREATE INDEX pending_project ON pending (project, created);
	CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);`,
	// 2: who holds the server lock (see LockServer), for the message of
	// a server refused.
	`CREATE TABLE server_lock (
		id INTEGER PRIMARY KEY CHECK (id = 1), pid INTEGER NOT NULL, host TEXT NOT NULL,
		started TIMESTAMPTZ NOT NULL);`,
	// 3: each project's layout.Skeleton, for ProjectLike. Open fills in
	// the projects stored before (the skeleton is computed in Go).
	`CREATE TABLE skeletons (name TEXT COLLATE "C" PRIMARY KEY, skeleton TEXT COLLATE "C" NOT NULL);
	CREATE INDEX skeletons_skeleton ON skeletons (skeleton, name);`,
	// 4: writes a replica accepted for a shard another replica publishes
	// (see Forward): the request, who took it, and its result.
	`CREATE TABLE forwarded (
		id BIGSERIAL PRIMARY KEY, shard TEXT COLLATE "C" NOT NULL, created TIMESTAMPTZ NOT NULL,
		request BYTEA NOT NULL, claimed_by TEXT, result BYTEA);
	CREATE INDEX forwarded_open ON forwarded (shard) WHERE result IS NULL;`,
}

// SchemaVersion is the schema version this build of Hallmark reads and
// writes.
func SchemaVersion() int { return len(migrations) }

// migrationLock is the advisory lock key that serializes migrations run
// at once against one database (two operators, two replicas).
const migrationLock = 0x68616c6c6d61726b // "hallmark"

// ErrSchema is wrapped by the errors of Open about the database's schema
// version.
var ErrSchema = errors.New("database schema does not match")

// Migrate brings the database at url to SchemaVersion, running each
// missing migration in its own transaction, and returns the versions
// before and after. It refuses a database of a newer schema.
func Migrate(ctx context.Context, url string) (from, to int, err error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return 0, 0, fmt.Errorf("failed to connect to the database: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, int64(migrationLock)); err != nil {
		return 0, 0, fmt.Errorf("failed to lock the schema: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, int64(migrationLock))
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY, applied TIMESTAMPTZ NOT NULL DEFAULT now())`); err != nil {
		return 0, 0, fmt.Errorf("failed to create the schema version table: %w", err)
	}
	from, err = schemaVersion(ctx, conn)
	if err != nil {
		return 0, 0, err
	}
	if from > len(migrations) {
		return from, from, newerSchema(from)
	}
	for v := from; v < len(migrations); v++ {
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, migrations[v]); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version) VALUES ($1)`, v+1)
			return err
		})
		if err != nil {
			return from, v, fmt.Errorf("failed to migrate the schema to version %d: %w", v+1, err)
		}
	}
	return from, len(migrations), nil
}

// querier is what schemaVersion needs of a connection or a pool.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// schemaVersion reads the database's schema version: 0 when it has none.
func schemaVersion(ctx context.Context, q querier) (int, error) {
	var v int
	err := q.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P01" { // undefined_table
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("failed to read the schema version: %w", err)
	}
	return v, nil
}

func newerSchema(v int) error {
	return fmt.Errorf("%w: the database has schema version %d, and this hallmark knows versions up to %d: run a hallmark release that knows schema version %d",
		ErrSchema, v, len(migrations), v)
}

// checkSchema refuses a database whose schema is not SchemaVersion.
func checkSchema(ctx context.Context, q querier) error {
	v, err := schemaVersion(ctx, q)
	switch {
	case err != nil:
		return err
	case v > len(migrations):
		return newerSchema(v)
	case v < len(migrations):
		return fmt.Errorf("%w: the database has schema version %d and this hallmark needs version %d: run 'hallmark migrate --database URL' first",
			ErrSchema, v, len(migrations))
	}
	return nil
}
