package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math/bits"
	"strings"

	"hallmark.dev/hallmark/layout"
	"hallmark.dev/hallmark/store"
)

// A group of publications is first written with one multi-row statement per
// table (writeGroup): a publication of one release is thirteen statements
// one at a time, and at S = 4,096 a group holds one release each of many
// shards, so the statements, not the rows, were most of the commit's time.
// A publication that conflicts (a role version or a file that exists with
// other content) shows as fewer rows changed than sent; the group is then
// rolled back and written again one publication at a time, each in its own
// savepoint (writePublication), so that every publication gets its own
// answer, as before.

// errGroupConflict reports that a group written at once changed fewer rows
// than it sent: some publication of it conflicts.
var errGroupConflict = errors.New("a publication of the group conflicts")

// maxChunk bounds the rows of one statement (SQLite allows 32,766 bound
// values); chunks are powers of two so that few distinct statements are
// prepared and kept.
const maxChunk = 256

// insertRows runs head || " VALUES (?, …), …" || tail over rows, in chunks,
// and returns the rows changed.
func (d *DB) insertRows(ctx context.Context, tx *sql.Tx, head, tail string, cols int, rows [][]any) (int64, error) {
	var changed int64
	for len(rows) > 0 {
		n := min(len(rows), maxChunk)
		n = 1 << (bits.Len(uint(n)) - 1) // the largest power of two ≤ n
		var q strings.Builder
		q.WriteString(head)
		q.WriteString(" VALUES ")
		one := "(" + strings.Repeat("?, ", cols-1) + "?)"
		args := make([]any, 0, n*cols)
		for i, r := range rows[:n] {
			if i > 0 {
				q.WriteString(", ")
			}
			q.WriteString(one)
			args = append(args, r...)
		}
		q.WriteString(" ")
		q.WriteString(tail)
		res, err := d.txExec(ctx, tx, q.String(), args...)
		if err != nil {
			return changed, err
		}
		k, err := res.RowsAffected()
		if err != nil {
			return changed, err
		}
		changed += k
		rows = rows[n:]
	}
	return changed, nil
}

// writeGroup writes every publication of a group with one statement per
// table (and chunk). It returns errGroupConflict when any publication
// conflicts; the caller then rolls back.
func (d *DB) writeGroup(ctx context.Context, tx *sql.Tx, group []store.Publication) error {
	var roles, current, projects, skeletons, files, written, audit [][]any
	for _, p := range group {
		for _, r := range p.Roles {
			roles = append(roles, []any{r.Shard, r.Role, r.Version, fmtTime(r.Expires), r.Data})
			current = append(current, []any{r.Shard, r.Role, r.Version})
		}
		for _, pr := range p.Projects {
			projects = append(projects, []any{pr.Name, pr.Display, pr.Shard, pr.Status, fmtTime(pr.Created), pr.Blocked, pr.BlockReason, pr.OwnerRequest})
			skeletons = append(skeletons, []any{pr.Name, layout.Skeleton(pr.Name)})
		}
		for _, f := range p.Files {
			files = append(files, []any{f.Project, f.Path, f.SHA256, f.Length, f.Removed})
		}
		lists, err := writtenLists(p)
		if err != nil {
			return err
		}
		written = append(written, lists...)
		for _, a := range p.Audit {
			audit = append(audit, []any{fmtTime(a.Time), a.Project, a.Action, a.Detail, strings.Join(a.KeyIDs, ",")})
		}
	}
	steps := []struct {
		head, tail string
		cols       int
		rows       [][]any
		all        bool // every row must change, else a publication conflicts
	}{
		{`INSERT INTO roles (shard, role, version, expires, data)`, `ON CONFLICT DO NOTHING`, 5, roles, true},
		{`INSERT INTO current_roles (shard, role, version)`,
			`ON CONFLICT (shard, role) DO UPDATE SET version = excluded.version WHERE excluded.version > current_roles.version`, 3, current, false},
		{`INSERT INTO projects (name, display, shard, status, created, blocked, block_reason, owner_request)`,
			`ON CONFLICT (name) DO UPDATE SET status = excluded.status, blocked = excluded.blocked, block_reason = excluded.block_reason, owner_request = excluded.owner_request`, 8, projects, false},
		{`INSERT OR IGNORE INTO skeletons (name, skeleton)`, ``, 2, skeletons, false},
		{`INSERT INTO files (project, path, sha256, length, removed)`,
			`ON CONFLICT (project, path) DO UPDATE SET removed = excluded.removed WHERE files.sha256 = excluded.sha256`, 5, files, true},
		{`INSERT INTO settings (key, value)`, `ON CONFLICT (key) DO UPDATE SET value = excluded.value`, 2, written, false},
		{`INSERT INTO audit (time, project, action, detail, keyids)`, ``, 5, audit, false},
	}
	for _, s := range steps {
		n, err := d.insertRows(ctx, tx, s.head, s.tail, s.cols, s.rows)
		if err != nil {
			return err
		}
		if s.all && n != int64(len(s.rows)) {
			return errGroupConflict
		}
	}
	return nil
}

// writtenLists returns the settings rows ("written/<shard>", JSON list)
// that record the versioned files a publication makes current.
func writtenLists(p store.Publication) ([][]any, error) {
	byShard := map[string][]store.RoleRef{}
	var order []string
	for _, r := range p.Written {
		if _, ok := byShard[r.Shard]; !ok {
			order = append(order, r.Shard)
		}
		byShard[r.Shard] = append(byShard[r.Shard], r)
	}
	var out [][]any
	for _, shard := range order {
		w, err := json.Marshal(byShard[shard])
		if err != nil {
			return nil, fmt.Errorf("failed to record the files to write: %w", err)
		}
		out = append(out, []any{"written/" + shard, string(w)})
	}
	return out, nil
}
