package witness

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	_ "modernc.org/sqlite" // the "sqlite" database/sql driver
)

// stateDB keeps a witness's per-shard State in SQLite, synced on every
// commit: a state is durable before the witness signs on top of it.
type stateDB struct{ db *sql.DB }

func openStateDB(ctx context.Context, path string) (*stateDB, error) {
	dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=busy_timeout(10000)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("failed to open witness state %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS shards (shard TEXT PRIMARY KEY, state BLOB NOT NULL)`); err != nil {
		db.Close()
		return nil, fmt.Errorf("failed to open witness state %s: %w", path, err)
	}
	return &stateDB{db: db}, nil
}

func (s *stateDB) Close() error { return s.db.Close() }

// Get returns a shard's state, or nil if the witness never co-signed it.
func (s *stateDB) Get(ctx context.Context, shard string) (*State, error) {
	var b []byte
	err := s.db.QueryRowContext(ctx, `SELECT state FROM shards WHERE shard = ?`, shard).Scan(&b)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("failed to read witness state of shard %s: %w", shard, err)
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("witness state of shard %s is corrupt: %w", shard, err)
	}
	return &st, nil
}

// Put stores several shards' states in one synced transaction.
func (s *stateDB) Put(ctx context.Context, states []State) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("failed to store witness state: %w", err)
	}
	defer tx.Rollback()
	for _, st := range states {
		b, err := json.Marshal(st)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO shards (shard, state) VALUES (?, ?) ON CONFLICT (shard) DO UPDATE SET state = excluded.state`, st.Shard, b); err != nil {
			return fmt.Errorf("failed to store witness state of shard %s: %w", st.Shard, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("failed to store witness state: %w", err)
	}
	return nil
}
