package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"hallmark.dev/hallmark/store"
)

// groupFixture is a sequence of groups of publications: project creations,
// releases, a file removed and put back within one publication, record
// changes, audit lines, the written lists of several shards, and a
// publication of more rows than one statement takes.
func groupFixture() [][]store.Publication {
	now := time.Date(2026, 4, 1, 8, 0, 0, 0, time.UTC)
	role := func(shard, name string, v int64) store.RoleFile {
		return store.RoleFile{Shard: shard, Role: name, Version: v, Expires: now.Add(time.Duration(v) * time.Hour), Data: fmt.Appendf(nil, "%s/%s v%d", shard, name, v)}
	}
	written := func(shard string, roles ...string) []store.RoleRef {
		var out []store.RoleRef
		for _, r := range roles {
			out = append(out, store.RoleRef{Shard: shard, Role: r, Version: 2})
		}
		return out
	}
	var big store.Publication
	for i := range 700 {
		big.Roles = append(big.Roles, role(fmt.Sprintf("%03x", i), "root", 1))
	}
	var groups [][]store.Publication
	groups = append(groups, []store.Publication{big})
	var create, release []store.Publication
	for i := range 5 {
		shard, p := fmt.Sprintf("%x", i), fmt.Sprintf("p%d", i)
		create = append(create, store.Publication{Shard: shard,
			Roles:    []store.RoleFile{role(shard, p, 1), role(shard, p+".releases", 1), role(shard, "snapshot", 1)},
			Projects: []store.Project{{Name: p, Display: strings.ToUpper(p), Shard: shard, Status: store.StatusNew, Created: now}},
			Written:  written(shard, p, p+".releases"),
			Audit:    []store.AuditEntry{{Time: now, Project: p, Action: "create", Detail: "create " + p, KeyIDs: []string{"k1", "k2"}}},
		})
		release = append(release, store.Publication{Shard: shard,
			Roles: []store.RoleFile{role(shard, p+".releases", 2), role(shard, "snapshot", 2)},
			Files: []store.FileRecord{
				{Project: p, Path: p + "/1.0/a.tar.gz", SHA256: "aa", Length: 2},
				{Project: p, Path: p + "/1.0/b.whl", SHA256: "bb", Length: 2, Removed: true},
				{Project: p, Path: p + "/1.0/b.whl", SHA256: "bb", Length: 2},
			},
			Projects: []store.Project{{Name: p, Display: "ignored", Shard: shard, Status: store.StatusClaimed, Created: now.Add(time.Hour), Blocked: i%2 == 0, BlockReason: "spam", OwnerRequest: true}},
			Written:  append(written(shard, p+".releases"), written("other", "x")...),
			Audit:    []store.AuditEntry{{Time: now, Project: p, Action: "change", Detail: "add release 1.0"}},
		})
	}
	return append(groups, create, release)
}

// dump returns every row of every table the publications write, in a
// fixed order.
func dump(t *testing.T, db *sql.DB) string {
	t.Helper()
	var b strings.Builder
	for _, q := range []string{
		`SELECT shard, role, version, expires, data FROM roles ORDER BY shard, role, version`,
		`SELECT shard, role, version FROM current_roles ORDER BY shard, role`,
		`SELECT name, display, shard, status, created, blocked, block_reason, owner_request FROM projects ORDER BY name`,
		`SELECT name, skeleton FROM skeletons ORDER BY name`,
		`SELECT project, path, sha256, length, removed FROM files ORDER BY project, path`,
		`SELECT key, value FROM settings ORDER BY key`,
		`SELECT id, time, project, action, detail, keyids FROM audit ORDER BY id`,
	} {
		rows, err := db.Query(q)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			for _, v := range vals {
				if bs, ok := v.([]byte); ok {
					v = string(bs)
				}
				fmt.Fprintf(&b, "%v|", v)
			}
			b.WriteString("\n")
		}
		rows.Close()
		b.WriteString("--\n")
	}
	return b.String()
}

// A group written with one statement per table leaves the database exactly
// as the same publications written one at a time do, and a group in which
// one publication conflicts is refused whole.
func TestGroupAtOnceWritesWhatOneByOneWrites(t *testing.T) {
	ctx := context.Background()
	open := func() *DB {
		db, err := Open(ctx, filepath.Join(t.TempDir(), "state.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	atOnce, oneByOne := open(), open()
	for i, group := range groupFixture() {
		tx, err := atOnce.db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := atOnce.writeGroup(ctx, tx, group); err != nil {
			t.Fatalf("group %d at once: %v", i, err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		for k, p := range group {
			tx, err := oneByOne.db.BeginTx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := oneByOne.writePublication(ctx, tx, p); err != nil {
				t.Fatalf("group %d publication %d one by one: %v", i, k, err)
			}
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}
		}
		if a, b := dump(t, atOnce.db), dump(t, oneByOne.db); a != b {
			t.Fatalf("after group %d:\nat once:\n%s\none by one:\n%s", i, a, b)
		}
	}

	before := dump(t, atOnce.db)
	for _, tc := range []struct {
		name string
		pub  store.Publication
	}{
		{"a role version that exists", store.Publication{Shard: "1", Roles: []store.RoleFile{{Shard: "1", Role: "snapshot", Version: 2, Data: []byte("other")}}}},
		{"a file name with other content", store.Publication{Shard: "1", Files: []store.FileRecord{{Project: "p1", Path: "p1/1.0/a.tar.gz", SHA256: "evil", Length: 4}}}},
	} {
		fine := store.Publication{Shard: "9", Roles: []store.RoleFile{{Shard: "9", Role: "snapshot", Version: 1, Data: []byte("fine")}},
			Audit: []store.AuditEntry{{Project: "p9", Action: "change", Detail: "fine"}}}
		tx, err := atOnce.db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		err = atOnce.writeGroup(ctx, tx, []store.Publication{fine, tc.pub})
		tx.Rollback()
		if err != errGroupConflict {
			t.Errorf("%s: writeGroup = %v; want errGroupConflict", tc.name, err)
		}
		if after := dump(t, atOnce.db); after != before {
			t.Errorf("%s: the refused group changed the database", tc.name)
		}
	}
}
