package publish

import (
	"context"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"hallmark.dev/hallmark/layout"
	"hallmark.dev/hallmark/store"
	"hallmark.dev/hallmark/store/sqlite"
)

// What the view answers after each commit is what the store answers: a
// differential test on a real SQLite store, through a sequence of
// publications that create projects, change their records, add files,
// remove them and put them back, and publish new role versions, with
// reads through the view in between (so some values are cached, others
// not, when each publication arrives).
func TestViewAgreesWithTheStore(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	const shards = 16
	v := newStateView(st, shards)
	now := time.Date(2026, 4, 1, 8, 0, 0, 0, time.UTC)
	names := []string{"alpha", "beta", "gamma"}
	version := map[string]int64{}
	role := func(shard, name string) store.RoleFile {
		version[shard+"/"+name]++
		n := version[shard+"/"+name]
		return store.RoleFile{Shard: shard, Role: name, Version: n, Expires: now.Add(time.Duration(n) * time.Hour),
			Data: fmt.Appendf(nil, `{"role":%q,"version":%d}`, name, n)}
	}
	file := func(project, path, sum string, removed bool) store.FileRecord {
		return store.FileRecord{Project: project, Path: project + "/" + path, SHA256: sum, Length: int64(len(sum)), Removed: removed}
	}
	var pubs []store.Publication
	for i, name := range names {
		shard := layout.ShardOf(name, shards)
		pubs = append(pubs, store.Publication{Shard: shard,
			Roles:    []store.RoleFile{role(shard, layout.OwnersRole(name)), role(shard, layout.ReleasesRole(name)), role(shard, layout.RoleSnapshot)},
			Projects: []store.Project{{Name: name, Display: strings.ToUpper(name), Shard: shard, Status: store.StatusNew, Created: now.Add(time.Duration(i) * time.Minute)}},
		})
	}
	for _, name := range names {
		shard := layout.ShardOf(name, shards)
		pubs = append(pubs,
			store.Publication{Shard: shard, Roles: []store.RoleFile{role(shard, layout.ReleasesRole(name)), role(shard, layout.RoleSnapshot)},
				Files: []store.FileRecord{file(name, "1.0.0/z.tar.gz", "aa", false), file(name, "1.0.0/a.whl", "bb", false)}},
			store.Publication{Shard: shard, Roles: []store.RoleFile{role(shard, layout.ReleasesRole(name)), role(shard, layout.RoleSnapshot)},
				Files: []store.FileRecord{file(name, "1.0.0/z.tar.gz", "aa", true), file(name, "1.1.0/m.tar.gz", "cc", false)}},
			// Claimed and blocked; a display name and creation time sent
			// again differ from the first, as the store keeps the first.
			store.Publication{Shard: shard, Roles: []store.RoleFile{role(shard, layout.ClaimedRole(shard))},
				Projects: []store.Project{{Name: name, Display: "other", Shard: shard, Status: store.StatusClaimed, Created: now.Add(time.Hour), Blocked: true, BlockReason: "spam"}}},
			store.Publication{Shard: shard, Roles: []store.RoleFile{role(shard, layout.ReleasesRole(name)), role(shard, layout.RoleSnapshot)},
				Files: []store.FileRecord{file(name, "1.0.0/z.tar.gz", "aa", false)}},
		)
	}
	check := func(step int) {
		t.Helper()
		for _, name := range names {
			shard := layout.ShardOf(name, shards)
			for _, r := range []string{layout.OwnersRole(name), layout.ReleasesRole(name), layout.RoleSnapshot, layout.ClaimedRole(shard)} {
				want, werr := st.Role(ctx, shard, r)
				got, gerr := v.Role(ctx, shard, r)
				if (werr == nil) != (gerr == nil) || (werr == nil && (got.Version != want.Version || string(got.Data) != string(want.Data) || !got.Expires.Equal(want.Expires))) {
					t.Fatalf("after publication %d: role %s: view %d %v, store %d %v", step, r, got.Version, gerr, want.Version, werr)
				}
			}
			want, werr := st.Project(ctx, name)
			got, gerr := v.Project(ctx, name)
			if (werr == nil) != (gerr == nil) || (werr == nil && (!got.Created.Equal(want.Created) || fmt.Sprint(got.Display, got.Status, got.Blocked, got.BlockReason, got.OwnerRequest) != fmt.Sprint(want.Display, want.Status, want.Blocked, want.BlockReason, want.OwnerRequest))) {
				t.Fatalf("after publication %d: project %s: view %+v %v, store %+v %v", step, name, got, gerr, want, werr)
			}
			wantFiles, err := st.Files(ctx, name)
			if err != nil {
				t.Fatal(err)
			}
			gotFiles, err := v.Files(ctx, name)
			if err != nil {
				t.Fatal(err)
			}
			byPath := func(a, b store.FileRecord) int { return strings.Compare(a.Path, b.Path) }
			slices.SortFunc(wantFiles, byPath)
			slices.SortFunc(gotFiles, byPath)
			if !reflect.DeepEqual(gotFiles, wantFiles) && (len(gotFiles) > 0 || len(wantFiles) > 0) {
				t.Fatalf("after publication %d: files of %s: view %+v, store %+v", step, name, gotFiles, wantFiles)
			}
		}
	}
	for i, pub := range pubs {
		if err := st.Commit(ctx, pub); err != nil {
			t.Fatalf("publication %d: %v", i, err)
		}
		v.committed(pub)
		if i%2 == 0 {
			check(i) // reads fill the view; odd steps leave it as the commits left it
		}
	}
	check(len(pubs))
}

// A forgotten shard is read from the store again, and a fill that raced
// the forget (it read before) is never served.
func TestViewForgetsAShard(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	v := newStateView(st, 16)
	shard := layout.ShardOf("alpha", 16)
	rf := func(version int64, data string) store.RoleFile {
		return store.RoleFile{Shard: shard, Role: layout.RoleSnapshot, Version: version, Data: []byte(data)}
	}
	if err := st.Commit(ctx, store.Publication{Shard: shard, Roles: []store.RoleFile{rf(1, "one")}}); err != nil {
		t.Fatal(err)
	}
	if got, err := v.Role(ctx, shard, layout.RoleSnapshot); err != nil || string(got.Data) != "one" {
		t.Fatalf("Role = %q, %v", got.Data, err)
	}
	// Another writer commits version 2 behind the view's back.
	if err := st.Commit(ctx, store.Publication{Shard: shard, Roles: []store.RoleFile{rf(2, "two")}}); err != nil {
		t.Fatal(err)
	}
	if got, _ := v.Role(ctx, shard, layout.RoleSnapshot); string(got.Data) != "one" {
		t.Fatalf("before forget: Role = %q; want the cached one", got.Data)
	}
	stale := v.generation(shard)
	v.forget(shard)
	v.put(&viewEntry{key: roleKey(shard, layout.RoleSnapshot), shard: shard, gen: stale, role: rf(1, "one")})
	if got, _ := v.Role(ctx, shard, layout.RoleSnapshot); string(got.Data) != "two" {
		t.Fatalf("after forget: Role = %q; want the store's", got.Data)
	}
	// A slower fill of an older version does not replace a newer one.
	v.put(&viewEntry{key: roleKey(shard, layout.RoleSnapshot), shard: shard, gen: v.generation(shard), role: rf(1, "one")})
	if got, _ := v.Role(ctx, shard, layout.RoleSnapshot); string(got.Data) != "two" {
		t.Fatalf("after an older fill: Role = %q; want the newer", got.Data)
	}
}
