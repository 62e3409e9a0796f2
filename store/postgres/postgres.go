// Package postgres implements store.State on PostgreSQL (through pgx), for
// deployments where several `hallmark serve` replicas share one database.
//
// The schema is versioned (see Migrate): Open refuses a database whose
// schema is not the version this build needs, naming it, and
// `hallmark migrate` brings a database to that version. A publication
// commits in one transaction, sent to the server as one batch (one round
// trip); concurrent commits of one role version have exactly one winner,
// and the others get store.ErrConflict.
package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"hallmark.dev/hallmark/layout"
	"hallmark.dev/hallmark/store"
)

// DB is a PostgreSQL state store.
type DB struct {
	pool *pgxpool.Pool
	group
}

var _ store.State = (*DB)(nil)

// Open connects to the database at url (postgres://...) and checks that
// its schema is the version this build needs.
func Open(ctx context.Context, url string) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("invalid database URL: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("failed to connect to the database: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("failed to connect to the database %s@%s:%d/%s: %w",
			cfg.ConnConfig.User, cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database, err)
	}
	if err := checkSchema(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	d := &DB{pool: pool}
	if err := d.fillSkeletons(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("failed to record the skeletons of project names: %w", err)
	}
	return d, nil
}

// fillSkeletons records the skeleton of every project that has none yet
// (projects stored before schema version 3).
func (d *DB) fillSkeletons(ctx context.Context) error {
	rows, err := d.pool.Query(ctx, `SELECT name FROM projects p WHERE NOT EXISTS (SELECT 1 FROM skeletons s WHERE s.name = p.name)`)
	if err != nil {
		return err
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || len(names) == 0 {
		return err
	}
	b := &pgx.Batch{}
	for _, n := range names {
		b.Queue(`INSERT INTO skeletons (name, skeleton) VALUES ($1, $2) ON CONFLICT DO NOTHING`, n, layout.Skeleton(n))
	}
	return d.pool.SendBatch(ctx, b).Close()
}

// ProjectLike implements store.State.
func (d *DB) ProjectLike(ctx context.Context, name string) (store.Project, error) {
	var other string
	err := d.pool.QueryRow(ctx, `SELECT name FROM skeletons WHERE skeleton = $1 AND name <> $2 ORDER BY name LIMIT 1`,
		layout.Skeleton(name), name).Scan(&other)
	if err != nil {
		return store.Project{}, notFound(err)
	}
	return d.Project(ctx, other)
}

// Close implements store.State.
func (d *DB) Close() error {
	d.pool.Close()
	return nil
}

// Ping implements store.State.
func (d *DB) Ping(ctx context.Context) error { return d.pool.Ping(ctx) }

func notFound(err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return store.ErrNotFound
	}
	return err
}

// utc reads times back in UTC, as the SQLite store does.
func utc(t time.Time) time.Time { return t.UTC() }

const currentRole = `SELECT r.role, r.version, r.expires, r.data FROM current_roles c
	JOIN roles r ON r.shard = c.shard AND r.role = c.role AND r.version = c.version `

// scanRoles reads rows of currentRole.
func scanRoles(shard string, rows pgx.Rows) ([]store.RoleFile, error) {
	defer rows.Close()
	var out []store.RoleFile
	for rows.Next() {
		r := store.RoleFile{Shard: shard}
		if err := rows.Scan(&r.Role, &r.Version, &r.Expires, &r.Data); err != nil {
			return nil, err
		}
		r.Expires = utc(r.Expires)
		out = append(out, r)
	}
	return out, rows.Err()
}

// Role implements store.State.
func (d *DB) Role(ctx context.Context, shard, role string) (store.RoleFile, error) {
	rows, err := d.pool.Query(ctx, currentRole+`WHERE c.shard = $1 AND c.role = $2`, shard, role)
	if err != nil {
		return store.RoleFile{}, err
	}
	out, err := scanRoles(shard, rows)
	if err != nil {
		return store.RoleFile{}, err
	}
	if len(out) == 0 {
		return store.RoleFile{Shard: shard, Role: role}, store.ErrNotFound
	}
	return out[0], nil
}

// RoleVersion implements store.State.
func (d *DB) RoleVersion(ctx context.Context, shard, role string, version int64) (store.RoleFile, error) {
	r := store.RoleFile{Shard: shard, Role: role, Version: version}
	err := d.pool.QueryRow(ctx, `SELECT expires, data FROM roles WHERE shard = $1 AND role = $2 AND version = $3`,
		shard, role, version).Scan(&r.Expires, &r.Data)
	r.Expires = utc(r.Expires)
	return r, notFound(err)
}

// ShardRoles implements store.State.
func (d *DB) ShardRoles(ctx context.Context, shard string) ([]store.RoleFile, error) {
	rows, err := d.pool.Query(ctx, currentRole+`WHERE c.shard = $1 ORDER BY r.role`, shard)
	if err != nil {
		return nil, err
	}
	return scanRoles(shard, rows)
}

// RoleExpiries implements store.State, in the order of roles.
func (d *DB) RoleExpiries(ctx context.Context, shard string, roles []string) ([]store.RoleFile, error) {
	rows, err := d.pool.Query(ctx, `SELECT r.role, r.version, r.expires FROM current_roles c
		JOIN roles r ON r.shard = c.shard AND r.role = c.role AND r.version = c.version
		WHERE c.shard = $1 AND c.role = ANY($2)`, shard, roles)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	found := map[string]store.RoleFile{}
	for rows.Next() {
		r := store.RoleFile{Shard: shard}
		if err := rows.Scan(&r.Role, &r.Version, &r.Expires); err != nil {
			return nil, err
		}
		r.Expires = utc(r.Expires)
		found[r.Role] = r
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var out []store.RoleFile
	for _, role := range roles {
		if r, ok := found[role]; ok {
			out = append(out, r)
		}
	}
	return out, nil
}

// projectColumns selects what queryProjects scans.
const projectColumns = `SELECT name, display, shard, status, created, blocked, block_reason, owner_request FROM projects `

func (d *DB) queryProjects(ctx context.Context, q string, args ...any) ([]store.Project, error) {
	rows, err := d.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Project
	for rows.Next() {
		var p store.Project
		if err := rows.Scan(&p.Name, &p.Display, &p.Shard, &p.Status, &p.Created, &p.Blocked, &p.BlockReason, &p.OwnerRequest); err != nil {
			return nil, err
		}
		p.Created = utc(p.Created)
		out = append(out, p)
	}
	return out, rows.Err()
}

// Project implements store.State.
func (d *DB) Project(ctx context.Context, name string) (store.Project, error) {
	out, err := d.queryProjects(ctx, projectColumns+`WHERE name = $1`, name)
	if err != nil {
		return store.Project{}, err
	}
	if len(out) == 0 {
		return store.Project{Name: name}, store.ErrNotFound
	}
	return out[0], nil
}

// ListProjects implements store.State.
func (d *DB) ListProjects(ctx context.Context, after string, limit int) ([]store.Project, error) {
	return d.ListProjectsWhere(ctx, store.ProjectFilter{}, after, limit)
}

// ListProjectsWhere implements store.State.
func (d *DB) ListProjectsWhere(ctx context.Context, f store.ProjectFilter, after string, limit int) ([]store.Project, error) {
	return d.queryProjects(ctx, projectColumns+`WHERE name > $1 AND ($2 = '' OR status = $2) AND (NOT $3 OR blocked) AND (NOT $4 OR owner_request)
		ORDER BY name LIMIT $5`, after, f.Status, f.Blocked, f.OwnerRequest, limit)
}

// SearchProjects implements store.State: prefix matches are a range scan
// of the primary key (names compare byte by byte, and normalized names
// are ASCII), then matches elsewhere in the name.
func (d *DB) SearchProjects(ctx context.Context, query string, limit int) ([]store.Project, error) {
	if query == "" || limit <= 0 {
		return nil, nil
	}
	out, err := d.queryProjects(ctx, projectColumns+`WHERE name >= $1 AND name < $2 ORDER BY name LIMIT $3`, query, query+"\x7f", limit)
	if err != nil || len(out) >= limit {
		return out, err
	}
	more, err := d.queryProjects(ctx, projectColumns+`WHERE strpos(name, $1) > 1 ORDER BY name LIMIT $2`, query, limit-len(out))
	return append(out, more...), err
}

// CountProjects implements store.State.
func (d *DB) CountProjects(ctx context.Context) (map[string]int, error) {
	rows, err := d.pool.Query(ctx, `SELECT status, COUNT(*) FROM projects GROUP BY status`)
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

// Files implements store.State.
func (d *DB) Files(ctx context.Context, project string) ([]store.FileRecord, error) {
	rows, err := d.pool.Query(ctx, `SELECT path, sha256, length, removed FROM files WHERE project = $1 ORDER BY path`, project)
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
	return d.audit(ctx, `SELECT time, project, action, detail, keyids FROM audit WHERE project = $1 ORDER BY id DESC LIMIT $2`, project, limit)
}

// RecentAudit implements store.State.
func (d *DB) RecentAudit(ctx context.Context, limit int) ([]store.AuditEntry, error) {
	return d.audit(ctx, `SELECT time, project, action, detail, keyids FROM audit ORDER BY id DESC LIMIT $1`, limit)
}

func (d *DB) audit(ctx context.Context, q string, args ...any) ([]store.AuditEntry, error) {
	rows, err := d.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.AuditEntry
	for rows.Next() {
		var e store.AuditEntry
		if err := rows.Scan(&e.Time, &e.Project, &e.Action, &e.Detail, &e.KeyIDs); err != nil {
			return nil, err
		}
		e.Time = utc(e.Time)
		if len(e.KeyIDs) == 0 {
			e.KeyIDs = nil
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// Setting implements store.State.
func (d *DB) Setting(ctx context.Context, key string) (string, error) {
	var v string
	err := d.pool.QueryRow(ctx, `SELECT value FROM settings WHERE key = $1`, key).Scan(&v)
	return v, notFound(err)
}

// PutSetting implements store.State.
func (d *DB) PutSetting(ctx context.Context, key, value string) error {
	_, err := d.pool.Exec(ctx, `INSERT INTO settings (key, value) VALUES ($1, $2)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, value)
	return err
}

// LastWritten implements store.State.
func (d *DB) LastWritten(ctx context.Context, shard string) ([]store.RoleRef, error) {
	v, err := d.Setting(ctx, writtenKey(shard))
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

func writtenKey(shard string) string { return "written/" + shard }

// PutPending implements store.State.
func (d *DB) PutPending(ctx context.Context, p store.PendingChange) error {
	files, err := json.Marshal(p.Files)
	if err != nil {
		return err
	}
	_, err = d.pool.Exec(ctx, `INSERT INTO pending (id, project, created, expires, change, files, summary)
		VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO UPDATE SET change = excluded.change, summary = excluded.summary`,
		p.ID, p.Project, p.Created, p.Expires, p.Change, string(files), p.Summary)
	return err
}

// Pending implements store.State.
func (d *DB) Pending(ctx context.Context, id string) (store.PendingChange, error) {
	out, err := d.pending(ctx, `WHERE id = $1`, id)
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
	return d.pending(ctx, `WHERE $1 = '' OR project = $1 ORDER BY created, id`, project)
}

func (d *DB) pending(ctx context.Context, where string, args ...any) ([]store.PendingChange, error) {
	rows, err := d.pool.Query(ctx, `SELECT id, project, created, expires, change, files::text, summary FROM pending `+where, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.PendingChange
	for rows.Next() {
		var p store.PendingChange
		var files string
		if err := rows.Scan(&p.ID, &p.Project, &p.Created, &p.Expires, &p.Change, &files, &p.Summary); err != nil {
			return nil, err
		}
		p.Created, p.Expires = utc(p.Created), utc(p.Expires)
		if err := json.Unmarshal([]byte(files), &p.Files); err != nil {
			return nil, fmt.Errorf("pending change %s: corrupt file list: %w", p.ID, err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// DeletePending implements store.State.
func (d *DB) DeletePending(ctx context.Context, id string) error {
	_, err := d.pool.Exec(ctx, `DELETE FROM pending WHERE id = $1`, id)
	return err
}

// check is what one batched statement must have done.
type check struct {
	conflict string // when it touched no row: a conflict, described so
	failed   string // when it failed: "failed to ..."
}

// writePublications queues every statement of the publications in one
// batch and reads the results in order.
func writePublications(ctx context.Context, tx pgx.Tx, pubs ...store.Publication) error {
	b := &pgx.Batch{}
	var checks []check
	for _, p := range pubs {
		var err error
		if checks, err = queuePublication(b, checks, p); err != nil {
			return err
		}
	}
	if len(checks) == 0 {
		return nil
	}
	results := tx.SendBatch(ctx, b)
	for _, c := range checks {
		tag, err := results.Exec()
		if err != nil {
			results.Close()
			return fmt.Errorf("failed to %s: %w", c.failed, err)
		}
		if c.conflict != "" && tag.RowsAffected() == 0 {
			results.Close()
			return fmt.Errorf("%w: %s", store.ErrConflict, c.conflict)
		}
	}
	return results.Close()
}

// queuePublication adds the statements of a publication to b, and what
// each must do to checks.
func queuePublication(b *pgx.Batch, checks []check, p store.Publication) ([]check, error) {
	queue := func(c check, sql string, args ...any) {
		b.Queue(sql, args...)
		checks = append(checks, c)
	}
	for _, r := range p.Roles {
		queue(check{conflict: fmt.Sprintf("%s version %d of shard %s exists already", r.Role, r.Version, r.Shard), failed: "store role " + r.Role},
			`INSERT INTO roles (shard, role, version, expires, data) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`,
			r.Shard, r.Role, r.Version, r.Expires, r.Data)
		queue(check{failed: "store role " + r.Role},
			`INSERT INTO current_roles (shard, role, version) VALUES ($1, $2, $3)
			ON CONFLICT (shard, role) DO UPDATE SET version = excluded.version WHERE excluded.version > current_roles.version`,
			r.Shard, r.Role, r.Version)
	}
	for _, pr := range p.Projects {
		queue(check{failed: "store project " + pr.Name},
			`INSERT INTO projects (name, display, shard, status, created, blocked, block_reason, owner_request) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
			ON CONFLICT (name) DO UPDATE SET status = excluded.status, blocked = excluded.blocked, block_reason = excluded.block_reason, owner_request = excluded.owner_request`,
			pr.Name, pr.Display, pr.Shard, pr.Status, pr.Created, pr.Blocked, pr.BlockReason, pr.OwnerRequest)
		queue(check{failed: "store project " + pr.Name},
			`INSERT INTO skeletons (name, skeleton) VALUES ($1, $2) ON CONFLICT DO NOTHING`, pr.Name, layout.Skeleton(pr.Name))
	}
	for _, f := range p.Files {
		queue(check{conflict: "file " + f.Path + " was published with other content", failed: "store file record " + f.Path},
			`INSERT INTO files (project, path, sha256, length, removed) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (project, path) DO UPDATE SET removed = excluded.removed WHERE files.sha256 = excluded.sha256`,
			f.Project, f.Path, f.SHA256, f.Length, f.Removed)
	}
	byShard := map[string][]store.RoleRef{}
	var shards []string
	for _, r := range p.Written {
		if _, ok := byShard[r.Shard]; !ok {
			shards = append(shards, r.Shard)
		}
		byShard[r.Shard] = append(byShard[r.Shard], r)
	}
	for _, shard := range shards {
		w, err := json.Marshal(byShard[shard])
		if err != nil {
			return nil, err
		}
		queue(check{failed: "record the files to write"}, `INSERT INTO settings (key, value) VALUES ($1, $2)
			ON CONFLICT (key) DO UPDATE SET value = excluded.value`, writtenKey(shard), string(w))
	}
	for _, a := range p.Audit {
		ids := a.KeyIDs
		if ids == nil {
			ids = []string{}
		}
		queue(check{failed: "store audit entry"},
			`INSERT INTO audit (time, project, action, detail, keyids) VALUES ($1, $2, $3, $4, $5)`,
			a.Time, a.Project, a.Action, a.Detail, ids)
	}
	return checks, nil
}
