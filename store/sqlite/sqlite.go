// Package sqlite implements store.State on an embedded SQLite database
// (pure Go, no cgo). It is the default store of `hallmark serve`.
package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // the "sqlite" database/sql driver

	"hallmark.dev/hallmark/internal/groupcommit"
	"hallmark.dev/hallmark/layout"
	"hallmark.dev/hallmark/store"
)

const schema = `
CREATE TABLE IF NOT EXISTS roles (
	shard TEXT NOT NULL, role TEXT NOT NULL, version INTEGER NOT NULL,
	expires TEXT NOT NULL, data BLOB NOT NULL,
	PRIMARY KEY (shard, role, version));
CREATE TABLE IF NOT EXISTS current_roles (
	shard TEXT NOT NULL, role TEXT NOT NULL, version INTEGER NOT NULL,
	PRIMARY KEY (shard, role));
CREATE TABLE IF NOT EXISTS projects (
	name TEXT PRIMARY KEY, display TEXT NOT NULL, shard TEXT NOT NULL,
	status TEXT NOT NULL, created TEXT NOT NULL,
	blocked INTEGER NOT NULL DEFAULT 0, block_reason TEXT NOT NULL DEFAULT '',
	owner_request INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS projects_status ON projects (status, name);
CREATE TABLE IF NOT EXISTS files (
	project TEXT NOT NULL, path TEXT NOT NULL, sha256 TEXT NOT NULL,
	length INTEGER NOT NULL, removed INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (project, path));
CREATE TABLE IF NOT EXISTS audit (
	id INTEGER PRIMARY KEY AUTOINCREMENT, time TEXT NOT NULL, project TEXT NOT NULL,
	action TEXT NOT NULL, detail TEXT NOT NULL, keyids TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS audit_project ON audit (project, id);
CREATE TABLE IF NOT EXISTS pending (
	id TEXT PRIMARY KEY, project TEXT NOT NULL, created TEXT NOT NULL, expires TEXT NOT NULL,
	change BLOB NOT NULL, files TEXT NOT NULL, summary TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS pending_project ON pending (project, created);
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS skeletons (name TEXT PRIMARY KEY, skeleton TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS skeletons_skeleton ON skeletons (skeleton, name);
`

// DB is a SQLite state store.
type DB struct {
	db *sql.DB
	// commits admits one committer at a time. SQLite admits one writer;
	// left to its busy handler, the publishing loops of many shards retry
	// with sleeps, unfairly, and some wait past the busy timeout and fail
	// (seen with 4,096 shards under load). The committer commits every
	// publication queued so far in one transaction (group commit): one WAL
	// fsync for many shards instead of one each.
	commits groupcommit.Group[store.Publication]
	// transactions counts committed group transactions (tests read it).
	transactions atomic.Int64
	// stmts holds the prepared statements of the frequent queries, by
	// query text: preparing a statement cost as much as running it.
	stmts sync.Map
}

var _ store.State = (*DB)(nil)

// Open opens (creating if needed) the database file at path.
func Open(ctx context.Context, path string) (*DB, error) {
	// WAL lets readers run beside the writer; synchronous=FULL makes every
	// commit durable before the publisher writes the timestamp that points
	// at it; immediate transactions take the write lock up front.
	dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)" +
		"&_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("failed to open database %s: %w", path, err)
	}
	// database/sql keeps 2 idle connections by default: under concurrent
	// uploads it closed and reopened connections (and re-ran the pragmas)
	// on most queries.
	db.SetMaxIdleConns(16)
	if _, err := db.ExecContext(ctx, schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("failed to initialize database %s: %w", path, err)
	}
	d := &DB{db: db}
	if err := d.fillSkeletons(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("failed to initialize database %s: %w", path, err)
	}
	return d, nil
}

// fillSkeletons records the skeleton of every project that has none yet
// (projects stored before skeletons were kept).
func (d *DB) fillSkeletons(ctx context.Context) error {
	rows, err := d.db.QueryContext(ctx, `SELECT name FROM projects WHERE name NOT IN (SELECT name FROM skeletons)`)
	if err != nil {
		return err
	}
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return err
		}
		names = append(names, n)
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(names) == 0 {
		return err
	}
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, n := range names {
		if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO skeletons (name, skeleton) VALUES (?, ?)`, n, layout.Skeleton(n)); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// ProjectLike implements store.State.
func (d *DB) ProjectLike(ctx context.Context, name string) (store.Project, error) {
	var other string
	err := d.queryRow(ctx, `SELECT name FROM skeletons WHERE skeleton = ? AND name != ? ORDER BY name LIMIT 1`, layout.Skeleton(name), name).Scan(&other)
	if err != nil {
		return store.Project{}, notFound(err)
	}
	return d.Project(ctx, other)
}

// Close implements store.State.
func (d *DB) Close() error {
	d.stmts.Range(func(_, st any) bool {
		st.(*sql.Stmt).Close()
		return true
	})
	return d.db.Close()
}

// stmt returns the prepared form of a query, prepared once.
func (d *DB) stmt(ctx context.Context, q string) (*sql.Stmt, error) {
	if st, ok := d.stmts.Load(q); ok {
		return st.(*sql.Stmt), nil
	}
	st, err := d.db.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	if prev, loaded := d.stmts.LoadOrStore(q, st); loaded {
		st.Close()
		return prev.(*sql.Stmt), nil
	}
	return st, nil
}

// queryRow runs a prepared single-row query.
func (d *DB) queryRow(ctx context.Context, q string, args ...any) *sql.Row {
	st, err := d.stmt(ctx, q)
	if err != nil {
		return d.db.QueryRowContext(ctx, q, args...) // reports the error
	}
	return st.QueryRowContext(ctx, args...)
}

// query runs a prepared query.
func (d *DB) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	st, err := d.stmt(ctx, q)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

// txExec runs a prepared statement inside a transaction.
func (d *DB) txExec(ctx context.Context, tx *sql.Tx, q string, args ...any) (sql.Result, error) {
	st, err := d.stmt(ctx, q)
	if err != nil {
		return nil, err
	}
	return tx.StmtContext(ctx, st).ExecContext(ctx, args...)
}

// Ping implements store.State.
func (d *DB) Ping(ctx context.Context) error { return d.db.PingContext(ctx) }

func notFound(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return store.ErrNotFound
	}
	return err
}

func parseTime(s string) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, s)
	return t
}

func fmtTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// Role implements store.State.
func (d *DB) Role(ctx context.Context, shard, role string) (store.RoleFile, error) {
	r := store.RoleFile{Shard: shard, Role: role}
	var exp string
	err := d.queryRow(ctx, `SELECT r.version, r.expires, r.data FROM current_roles c
		JOIN roles r ON r.shard = c.shard AND r.role = c.role AND r.version = c.version
		WHERE c.shard = ? AND c.role = ?`, shard, role).Scan(&r.Version, &exp, &r.Data)
	r.Expires = parseTime(exp)
	return r, notFound(err)
}

// RoleVersion implements store.State.
func (d *DB) RoleVersion(ctx context.Context, shard, role string, version int64) (store.RoleFile, error) {
	r := store.RoleFile{Shard: shard, Role: role, Version: version}
	var exp string
	err := d.queryRow(ctx, `SELECT expires, data FROM roles WHERE shard = ? AND role = ? AND version = ?`,
		shard, role, version).Scan(&exp, &r.Data)
	r.Expires = parseTime(exp)
	return r, notFound(err)
}

// ShardRoles implements store.State.
func (d *DB) ShardRoles(ctx context.Context, shard string) ([]store.RoleFile, error) {
	rows, err := d.query(ctx, `SELECT r.role, r.version, r.expires, r.data FROM current_roles c
		JOIN roles r ON r.shard = c.shard AND r.role = c.role AND r.version = c.version
		WHERE c.shard = ? ORDER BY r.role`, shard)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.RoleFile
	for rows.Next() {
		r := store.RoleFile{Shard: shard}
		var exp string
		if err := rows.Scan(&r.Role, &r.Version, &exp, &r.Data); err != nil {
			return nil, err
		}
		r.Expires = parseTime(exp)
		out = append(out, r)
	}
	return out, rows.Err()
}

// Project implements store.State.
func (d *DB) Project(ctx context.Context, name string) (store.Project, error) {
	p := store.Project{Name: name}
	var created string
	err := d.queryRow(ctx, `SELECT display, shard, status, created, blocked, block_reason, owner_request FROM projects WHERE name = ?`, name).
		Scan(&p.Display, &p.Shard, &p.Status, &created, &p.Blocked, &p.BlockReason, &p.OwnerRequest)
	p.Created = parseTime(created)
	return p, notFound(err)
}

// ListProjects implements store.State.
func (d *DB) ListProjects(ctx context.Context, after string, limit int) ([]store.Project, error) {
	return d.ListProjectsWhere(ctx, store.ProjectFilter{}, after, limit)
}

// ListProjectsWhere implements store.State.
func (d *DB) ListProjectsWhere(ctx context.Context, f store.ProjectFilter, after string, limit int) ([]store.Project, error) {
	return d.queryProjects(ctx, projectColumns+`WHERE name > ? AND (? = '' OR status = ?) AND (? = 0 OR blocked = 1) AND (? = 0 OR owner_request = 1)
		ORDER BY name LIMIT ?`, after, f.Status, f.Status, f.Blocked, f.OwnerRequest, limit)
}

// projectColumns selects what queryProjects scans.
const projectColumns = `SELECT name, display, shard, status, created, blocked, block_reason, owner_request FROM projects `

// Files implements store.State.
func (d *DB) Files(ctx context.Context, project string) ([]store.FileRecord, error) {
	rows, err := d.query(ctx, `SELECT path, sha256, length, removed FROM files WHERE project = ? ORDER BY path`, project)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.FileRecord
	for rows.Next() {
		f := store.FileRecord{Project: project}
		if err := rows.Scan(&f.Path, &f.SHA256, &f.Length, &f.Removed); err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, rows.Err()
}

// Audit implements store.State.
func (d *DB) Audit(ctx context.Context, project string, limit int) ([]store.AuditEntry, error) {
	return d.audit(ctx, `SELECT time, project, action, detail, keyids FROM audit WHERE project = ? ORDER BY id DESC LIMIT ?`, project, limit)
}

// audit runs a query of audit lines (time, project, action, detail, keyids).
func (d *DB) audit(ctx context.Context, q string, args ...any) ([]store.AuditEntry, error) {
	rows, err := d.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.AuditEntry
	for rows.Next() {
		var e store.AuditEntry
		var t, ids string
		if err := rows.Scan(&t, &e.Project, &e.Action, &e.Detail, &ids); err != nil {
			return nil, err
		}
		e.Time = parseTime(t)
		if ids != "" {
			e.KeyIDs = strings.Split(ids, ",")
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// Commit implements store.State. Publications committed concurrently are
// written in one transaction, each in its own savepoint: one that fails
// (a conflict) is rolled back alone and the others still commit.
func (d *DB) Commit(ctx context.Context, p store.Publication) error {
	return d.commits.Do(ctx, p, d.commitGroup)
}

// commitGroup commits a group of publications and answers each: all at
// once when none conflicts, else one by one (see rows.go).
func (d *DB) commitGroup(ctx context.Context, group []*groupcommit.Request[store.Publication]) {
	fail := func(err error) {
		for _, r := range group {
			r.Answer(err)
		}
	}
	switch err := d.commitAtOnce(ctx, group); {
	case err == nil:
		d.transactions.Add(1)
		for _, r := range group {
			r.Answer(nil)
		}
		return
	case errors.Is(err, errCommitFailed):
		fail(err)
		return
	}
	d.commitEach(ctx, group)
}

// errCommitFailed wraps a failed COMMIT of a group written at once.
var errCommitFailed = errors.New("failed to commit")

// commitAtOnce writes and commits a group in one transaction with a
// statement per table. Any error but a failed COMMIT (errCommitFailed)
// leaves nothing written.
func (d *DB) commitAtOnce(ctx context.Context, group []*groupcommit.Request[store.Publication]) error {
	pubs := make([]store.Publication, len(group))
	for i, r := range group {
		pubs[i] = r.Item
	}
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := d.writeGroup(ctx, tx, pubs); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("%w: %w", errCommitFailed, err)
	}
	return nil
}

// commitEach commits a group one publication at a time, each in its own
// savepoint of one transaction: one that fails (a conflict) is rolled back
// alone and the others still commit.
func (d *DB) commitEach(ctx context.Context, group []*groupcommit.Request[store.Publication]) {
	errs := make([]error, len(group))
	fail := func(err error) {
		for _, r := range group {
			r.Answer(err)
		}
	}
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		fail(fmt.Errorf("failed to begin commit: %w", err))
		return
	}
	for i, r := range group {
		if len(group) == 1 {
			errs[i] = d.writePublication(ctx, tx, r.Item)
			break
		}
		if _, err := d.txExec(ctx, tx, "SAVEPOINT publication"); err != nil {
			tx.Rollback()
			fail(fmt.Errorf("failed to begin commit: %w", err))
			return
		}
		errs[i] = d.writePublication(ctx, tx, r.Item)
		if errs[i] != nil {
			if _, err := d.txExec(ctx, tx, "ROLLBACK TO publication"); err != nil {
				tx.Rollback()
				fail(fmt.Errorf("failed to roll back a refused publication: %w", err))
				return
			}
		}
		if _, err := d.txExec(ctx, tx, "RELEASE publication"); err != nil {
			tx.Rollback()
			fail(fmt.Errorf("failed to commit: %w", err))
			return
		}
	}
	if len(group) == 1 && errs[0] != nil {
		tx.Rollback()
		group[0].Answer(errs[0])
		return
	}
	if err := tx.Commit(); err != nil {
		fail(fmt.Errorf("failed to commit: %w", err))
		return
	}
	d.transactions.Add(1)
	for i, r := range group {
		r.Answer(errs[i])
	}
}

// writePublication writes one publication inside a transaction.
func (d *DB) writePublication(ctx context.Context, tx *sql.Tx, p store.Publication) error {
	for _, r := range p.Roles {
		res, err := d.txExec(ctx, tx, `INSERT INTO roles (shard, role, version, expires, data) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT DO NOTHING`, r.Shard, r.Role, r.Version, fmtTime(r.Expires), r.Data)
		if err != nil {
			return fmt.Errorf("failed to store role %s: %w", r.Role, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("%w: %s version %d of shard %s exists already", store.ErrConflict, r.Role, r.Version, r.Shard)
		}
		if _, err := d.txExec(ctx, tx, `INSERT INTO current_roles (shard, role, version) VALUES (?, ?, ?)
			ON CONFLICT (shard, role) DO UPDATE SET version = excluded.version WHERE excluded.version > current_roles.version`,
			r.Shard, r.Role, r.Version); err != nil {
			return fmt.Errorf("failed to store role %s: %w", r.Role, err)
		}
	}
	for _, pr := range p.Projects {
		if _, err := d.txExec(ctx, tx, `INSERT INTO projects (name, display, shard, status, created, blocked, block_reason, owner_request) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET status = excluded.status, blocked = excluded.blocked, block_reason = excluded.block_reason, owner_request = excluded.owner_request`,
			pr.Name, pr.Display, pr.Shard, pr.Status, fmtTime(pr.Created), pr.Blocked, pr.BlockReason, pr.OwnerRequest); err != nil {
			return fmt.Errorf("failed to store project %s: %w", pr.Name, err)
		}
		if _, err := d.txExec(ctx, tx, `INSERT OR IGNORE INTO skeletons (name, skeleton) VALUES (?, ?)`, pr.Name, layout.Skeleton(pr.Name)); err != nil {
			return fmt.Errorf("failed to store project %s: %w", pr.Name, err)
		}
	}
	for _, f := range p.Files {
		res, err := d.txExec(ctx, tx, `INSERT INTO files (project, path, sha256, length, removed) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (project, path) DO UPDATE SET removed = excluded.removed WHERE files.sha256 = excluded.sha256`,
			f.Project, f.Path, f.SHA256, f.Length, f.Removed)
		if err != nil {
			return fmt.Errorf("failed to store file record %s: %w", f.Path, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("%w: file %s was published with other content", store.ErrConflict, f.Path)
		}
	}
	lists, err := writtenLists(p)
	if err != nil {
		return err
	}
	for _, w := range lists {
		if _, err := d.txExec(ctx, tx, `INSERT INTO settings (key, value) VALUES (?, ?)
			ON CONFLICT (key) DO UPDATE SET value = excluded.value`, w...); err != nil {
			return fmt.Errorf("failed to record the files to write: %w", err)
		}
	}
	for _, a := range p.Audit {
		if _, err := d.txExec(ctx, tx, `INSERT INTO audit (time, project, action, detail, keyids) VALUES (?, ?, ?, ?, ?)`,
			fmtTime(a.Time), a.Project, a.Action, a.Detail, strings.Join(a.KeyIDs, ",")); err != nil {
			return fmt.Errorf("failed to store audit entry: %w", err)
		}
	}
	return nil
}

// Setting implements store.State.
func (d *DB) Setting(ctx context.Context, key string) (string, error) {
	var v string
	err := d.queryRow(ctx, `SELECT value FROM settings WHERE key = ?`, key).Scan(&v)
	return v, notFound(err)
}

// PutSetting implements store.State.
func (d *DB) PutSetting(ctx context.Context, key, value string) error {
	_, err := d.db.ExecContext(ctx, `INSERT INTO settings (key, value) VALUES (?, ?)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, value)
	return err
}

// PutPending implements store.State.
func (d *DB) PutPending(ctx context.Context, p store.PendingChange) error {
	files, err := json.Marshal(p.Files)
	if err != nil {
		return err
	}
	_, err = d.db.ExecContext(ctx, `INSERT INTO pending (id, project, created, expires, change, files, summary)
		VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET change = excluded.change, summary = excluded.summary`,
		p.ID, p.Project, fmtTime(p.Created), fmtTime(p.Expires), p.Change, string(files), p.Summary)
	return err
}

// Pending implements store.State.
func (d *DB) Pending(ctx context.Context, id string) (store.PendingChange, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT id, project, created, expires, change, files, summary FROM pending WHERE id = ?`, id)
	if err != nil {
		return store.PendingChange{}, err
	}
	out, err := scanPending(rows)
	if err != nil {
		return store.PendingChange{}, err
	}
	if len(out) == 0 {
		return store.PendingChange{}, store.ErrNotFound
	}
	return out[0], nil
}

// ListPending implements store.State.
func (d *DB) ListPending(ctx context.Context, project string) ([]store.PendingChange, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT id, project, created, expires, change, files, summary FROM pending
		WHERE ? = '' OR project = ? ORDER BY created, id`, project, project)
	if err != nil {
		return nil, err
	}
	return scanPending(rows)
}

func scanPending(rows *sql.Rows) ([]store.PendingChange, error) {
	defer rows.Close()
	var out []store.PendingChange
	for rows.Next() {
		var p store.PendingChange
		var created, expires, files string
		if err := rows.Scan(&p.ID, &p.Project, &created, &expires, &p.Change, &files, &p.Summary); err != nil {
			return nil, err
		}
		p.Created, p.Expires = parseTime(created), parseTime(expires)
		if err := json.Unmarshal([]byte(files), &p.Files); err != nil {
			return nil, fmt.Errorf("pending change %s: corrupt file list: %w", p.ID, err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// DeletePending implements store.State.
func (d *DB) DeletePending(ctx context.Context, id string) error {
	_, err := d.db.ExecContext(ctx, `DELETE FROM pending WHERE id = ?`, id)
	return err
}

// RecentAudit implements store.State. It walks the audit table's primary
// key backwards, so it reads only limit rows.
func (d *DB) RecentAudit(ctx context.Context, limit int) ([]store.AuditEntry, error) {
	return d.audit(ctx, `SELECT time, project, action, detail, keyids FROM audit ORDER BY id DESC LIMIT ?`, limit)
}

// SearchProjects implements store.State. Prefix matches are a range scan
// of the primary key (normalized names are ASCII, so the range
// [query, query+"\x7f") holds exactly the names starting with query).
// Matches elsewhere in the name scan the key in order until limit rows are
// found: at worst the whole table, which is why prefix matches come first.
func (d *DB) SearchProjects(ctx context.Context, query string, limit int) ([]store.Project, error) {
	if query == "" || limit <= 0 {
		return nil, nil
	}
	out, err := d.queryProjects(ctx, projectColumns+`WHERE name >= ? AND name < ? ORDER BY name LIMIT ?`, query, query+"\x7f", limit)
	if err != nil || len(out) >= limit {
		return out, err
	}
	more, err := d.queryProjects(ctx, projectColumns+`WHERE instr(name, ?) > 1 ORDER BY name LIMIT ?`, query, limit-len(out))
	return append(out, more...), err
}

func (d *DB) queryProjects(ctx context.Context, q string, args ...any) ([]store.Project, error) {
	rows, err := d.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Project
	for rows.Next() {
		var p store.Project
		var created string
		if err := rows.Scan(&p.Name, &p.Display, &p.Shard, &p.Status, &created, &p.Blocked, &p.BlockReason, &p.OwnerRequest); err != nil {
			return nil, err
		}
		p.Created = parseTime(created)
		out = append(out, p)
	}
	return out, rows.Err()
}

// RoleExpiries implements store.State: one primary-key lookup per role,
// without reading the roles' data.
func (d *DB) RoleExpiries(ctx context.Context, shard string, roles []string) ([]store.RoleFile, error) {
	var out []store.RoleFile
	for _, role := range roles {
		r := store.RoleFile{Shard: shard, Role: role}
		var exp string
		// Prepared: every batch asks for its shard's root.
		err := d.queryRow(ctx, `SELECT r.version, r.expires FROM current_roles c
			JOIN roles r ON r.shard = c.shard AND r.role = c.role AND r.version = c.version
			WHERE c.shard = ? AND c.role = ?`, shard, role).Scan(&r.Version, &exp)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return nil, err
		}
		r.Expires = parseTime(exp)
		out = append(out, r)
	}
	return out, nil
}

// CountProjects implements store.State.
func (d *DB) CountProjects(ctx context.Context) (map[string]int, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT status, COUNT(*) FROM projects GROUP BY status`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var s string
		var n int
		if err := rows.Scan(&s, &n); err != nil {
			return nil, err
		}
		out[s] = n
	}
	return out, rows.Err()
}

// LastWritten implements store.State.
func (d *DB) LastWritten(ctx context.Context, shard string) ([]store.RoleRef, error) {
	v, err := d.Setting(ctx, "written/"+shard)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []store.RoleRef
	if err := json.Unmarshal([]byte(v), &out); err != nil {
		return nil, fmt.Errorf("corrupt list of written files of shard %s: %w", shard, err)
	}
	return out, nil
}
