package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"hallmark.dev/hallmark/store"
)

// GroupHold lets a test gather publications into one group commit of a
// store that commits concurrent publications together.
type GroupHold struct {
	// Lock keeps the committer busy; Unlock lets it take the group.
	Lock, Unlock func()
	// Queued is the number of publications waiting for the next group.
	Queued func() int
}

// CheckGroupCommitIsolatesARefusedPublication commits 24 publications of
// 8 shards as one group, one of which conflicts: it leaves nothing behind,
// every other one is committed whole, and each caller gets its own answer.
func CheckGroupCommitIsolatesARefusedPublication(t *testing.T, db store.State, hold GroupHold) {
	pub := func(shard string, version int64, project string) store.Publication {
		return store.Publication{
			Shard:    shard,
			Roles:    []store.RoleFile{{Shard: shard, Role: "snapshot", Version: version, Expires: t0, Data: []byte(project)}},
			Projects: []store.Project{{Name: project, Display: project, Shard: shard, Status: store.StatusNew, Created: t0}},
			Files:    []store.FileRecord{{Project: project, Path: project + "/1.0.0/f", SHA256: "aa", Length: 1}},
			Audit:    []store.AuditEntry{{Time: t0, Project: project, Action: "create", Detail: project}},
			Written:  []store.RoleRef{{Shard: shard, Role: "snapshot", Version: version}},
		}
	}
	// p0's file was published before with other content: p0's publication
	// below conflicts at its file record, after its role and project rows
	// were written, which must be rolled back.
	first := pub("9", 1, "first")
	first.Files = append(first.Files, store.FileRecord{Project: "p0", Path: "p0/1.0.0/f", SHA256: "bb", Length: 1})
	if err := db.Commit(ctx, first); err != nil {
		t.Fatal(err)
	}

	const n = 24
	pubs := make([]store.Publication, n)
	conflicting := map[string]bool{}
	for i := range pubs {
		shard := fmt.Sprint(i % 8)
		project := fmt.Sprintf("p%d", i)
		pubs[i] = pub(shard, 2+int64(i/8), project)
		if shard == "0" && i/8 == 0 {
			conflicting[project] = true
			pubs[i].Written[0].Role = "marker"
		}
	}
	// Hold the committer until every publication is queued, so they are
	// committed as one group.
	hold.Lock()
	errs := make(chan struct {
		project string
		err     error
	}, n)
	for _, p := range pubs {
		go func() {
			err := db.Commit(ctx, p)
			errs <- struct {
				project string
				err     error
			}{p.Projects[0].Name, err}
		}()
	}
	for hold.Queued() != n {
		time.Sleep(time.Millisecond)
	}
	hold.Unlock()

	for range n {
		r := <-errs
		switch {
		case conflicting[r.project] && !errors.Is(r.err, store.ErrConflict):
			t.Errorf("%s: Commit = %v; want a conflict", r.project, r.err)
		case !conflicting[r.project] && r.err != nil:
			t.Errorf("%s: Commit = %v", r.project, r.err)
		}
	}
	for _, p := range pubs {
		name := p.Projects[0].Name
		_, perr := db.Project(ctx, name)
		files, ferr := db.Files(ctx, name)
		audit, aerr := db.Audit(ctx, name, 10)
		if ferr != nil || aerr != nil {
			t.Fatal(ferr, aerr)
		}
		_, rerr := db.RoleVersion(ctx, p.Shard, "snapshot", p.Roles[0].Version)
		if conflicting[name] {
			if !errors.Is(perr, store.ErrNotFound) || !errors.Is(rerr, store.ErrNotFound) || len(files) != 1 || files[0].SHA256 != "bb" || len(audit) != 0 {
				t.Errorf("%s conflicted but left project %v, role %v, files %v, %d audit lines", name, perr, rerr, files, len(audit))
			}
			continue
		}
		if perr != nil || len(files) != 1 || len(audit) != 1 {
			t.Errorf("%s: project %v, %d files, %d audit lines; want it committed whole", name, perr, len(files), len(audit))
		}
		r, err := db.RoleVersion(ctx, p.Shard, "snapshot", p.Roles[0].Version)
		if err != nil || string(r.Data) != name {
			t.Errorf("%s: snapshot %d of shard %s = %q, %v", name, p.Roles[0].Version, p.Shard, r.Data, err)
		}
	}
	// The refused publication did not touch shard 0's list of files to
	// write (the other two of shard 0 may commit in either order here; a
	// publisher never has two of one shard in flight).
	w, err := db.LastWritten(ctx, "0")
	if err != nil || len(w) != 1 || w[0].Role != "snapshot" || w[0].Version == 2 {
		t.Errorf("LastWritten(0) = %v, %v; want snapshot 3 or 4", w, err)
	}
}
