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
	// Transactions is the number of transactions the store committed.
	Transactions func() int64
}

// Committer is what both stores' group commit (internal/groupcommit)
// offers a test: holding the committer, and the queue's length.
type Committer interface {
	Lock()
	Unlock()
	Queued() int
}

// HoldOf is the GroupHold of a store's group committer and its counter of
// committed transactions.
func HoldOf(c Committer, transactions func() int64) GroupHold {
	return GroupHold{Lock: c.Lock, Unlock: c.Unlock, Queued: c.Queued, Transactions: transactions}
}

// groupPublication is a publication of one project's creation in a shard.
func groupPublication(shard string, version int64, project string) store.Publication {
	return store.Publication{
		Shard:    shard,
		Roles:    []store.RoleFile{{Shard: shard, Role: "snapshot", Version: version, Expires: t0, Data: []byte(project)}},
		Projects: []store.Project{{Name: project, Display: project, Shard: shard, Status: store.StatusNew, Created: t0}},
		Files:    []store.FileRecord{{Project: project, Path: project + "/1.0.0/f", SHA256: "aa", Length: 1}},
		Audit:    []store.AuditEntry{{Time: t0, Project: project, Action: "create", Detail: project}},
		Written:  []store.RoleRef{{Shard: shard, Role: "snapshot", Version: version}},
	}
}

// commitAsOneGroup commits pubs concurrently while hold keeps the
// committer busy, so that they form one group, and returns each one's
// error by project.
func commitAsOneGroup(t *testing.T, db store.State, hold GroupHold, pubs []store.Publication) map[string]error {
	t.Helper()
	type answer struct {
		project string
		err     error
	}
	answers := make(chan answer, len(pubs))
	hold.Lock()
	for _, p := range pubs {
		go func() { answers <- answer{p.Projects[0].Name, db.Commit(ctx, p)} }()
	}
	for hold.Queued() != len(pubs) {
		time.Sleep(time.Millisecond)
	}
	hold.Unlock()
	errs := map[string]error{}
	for range pubs {
		a := <-answers
		errs[a.project] = a.err
	}
	return errs
}

// CheckGroupCommitIsOneTransaction commits 8 publications of 8 shards
// that arrive together: all in one transaction, each whole.
func CheckGroupCommitIsOneTransaction(t *testing.T, db store.State, hold GroupHold) {
	var pubs []store.Publication
	for i := range 8 {
		pubs = append(pubs, groupPublication(fmt.Sprint(i), 1, fmt.Sprintf("g%d", i)))
	}
	before := hold.Transactions()
	for project, err := range commitAsOneGroup(t, db, hold, pubs) {
		if err != nil {
			t.Errorf("%s: Commit = %v", project, err)
		}
	}
	if n := hold.Transactions() - before; n != 1 {
		t.Errorf("8 publications that arrived together took %d transactions; want 1", n)
	}
	for _, p := range pubs {
		name := p.Projects[0].Name
		files, err := db.Files(ctx, name)
		r, rerr := db.RoleVersion(ctx, p.Shard, "snapshot", 1)
		if err != nil || rerr != nil || len(files) != 1 || string(r.Data) != name {
			t.Errorf("%s: files %v (%v), snapshot %q (%v); want it committed whole", name, files, err, r.Data, rerr)
		}
	}
}

// CheckGroupCommitIsolatesARefusedPublication commits 24 publications of
// 8 shards as one group, one of which conflicts: it leaves nothing behind,
// every other one is committed whole, and each caller gets its own answer.
func CheckGroupCommitIsolatesARefusedPublication(t *testing.T, db store.State, hold GroupHold) {
	pub := groupPublication
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
	for project, err := range commitAsOneGroup(t, db, hold, pubs) {
		switch {
		case conflicting[project] && !errors.Is(err, store.ErrConflict):
			t.Errorf("%s: Commit = %v; want a conflict", project, err)
		case !conflicting[project] && err != nil:
			t.Errorf("%s: Commit = %v", project, err)
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
