package publish

import (
	"container/list"
	"context"
	"slices"
	"strings"
	"sync"

	"hallmark.dev/hallmark/layout"
	"hallmark.dev/hallmark/store"
)

// stateView is the publisher's read-through, write-through cache of the
// state store: the current roles of shards, project records and file
// records, as the publishing loops read them.
//
// It is correct because the publisher is the one writer of a shard's state
// (one loop per shard in this process; with replicas, the process holding
// the shard's lease): what a loop committed is what the store holds until
// the loop commits again, so a loop that read or committed a value may
// read it back from memory. The view forgets a shard whenever the loop may
// not know what the store holds: after a commit that failed (its outcome
// may be unknown), and when the shard is dirty (a publication left files
// unwritten, or this process just took the shard from another). A value
// read from memory that is stale anyway (the store altered behind the
// server's back) can only make a publication conflict: every publication
// inserts role versions the store refuses when they exist, and file
// records it refuses with other content.
//
// Before this view, a release at S = 4,096 read six rows (three roles, the
// project, its files, the root's version) per batch; under constant writes
// SQLite's page cache is dropped at every commit, so each read went to the
// file (a quarter of the batch's store time).
//
// Project and file records are read through the view only from the shard's
// own loop (their fills carry no version to order them by); role reads may
// come from anywhere, as a fill never replaces a newer version.
type stateView struct {
	st     store.State
	shards int
	budget int

	mu   sync.Mutex
	gen  map[string]uint64 // shard → generation; forget increments it
	m    map[string]*list.Element
	lru  list.List // of *viewEntry, front: most recently used
	cost int
}

// viewEntry is one cached value: a role, a project or a project's files.
type viewEntry struct {
	key   string
	shard string
	gen   uint64
	cost  int
	role  store.RoleFile
	proj  store.Project
	files []store.FileRecord
}

// stateViewBudget bounds the estimated memory of the view: the online
// roles of every shard of a 4,096-shard repository of PyPI's size (about
// 60 KB a shard) do not fit, the hot ones do.
const stateViewBudget = 128 << 20

func newStateView(st store.State, shards int) *stateView {
	return &stateView{st: st, shards: shards, budget: stateViewBudget, gen: map[string]uint64{}, m: map[string]*list.Element{}}
}

func roleKey(shard, role string) string { return "r\x00" + shard + "\x00" + role }
func projectKey(name string) string     { return "p\x00" + name }
func filesKey(name string) string       { return "f\x00" + name }

// get returns the entry at key if it is of the shard's current generation.
func (v *stateView) get(key string) (*viewEntry, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	el, ok := v.m[key]
	if !ok {
		return nil, false
	}
	e := el.Value.(*viewEntry)
	if e.gen != v.gen[e.shard] {
		v.drop(el)
		return nil, false
	}
	v.lru.MoveToFront(el)
	return e, true
}

// generation returns a shard's generation, read before a fill so that a
// fill that raced a forget is kept under the old one (and never served).
func (v *stateView) generation(shard string) uint64 {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.gen[shard]
}

// put stores e unless a newer version of the same role is cached.
func (v *stateView) put(e *viewEntry) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if e.gen != v.gen[e.shard] || e.cost > v.budget/8 {
		return
	}
	if el, ok := v.m[e.key]; ok {
		old := el.Value.(*viewEntry)
		if old.gen == e.gen && e.role.Role != "" && old.role.Version > e.role.Version {
			return // versions only grow: a slower fill of an older one
		}
		v.drop(el)
	}
	v.m[e.key] = v.lru.PushFront(e)
	v.cost += e.cost
	for v.cost > v.budget {
		v.drop(v.lru.Back())
	}
}

func (v *stateView) drop(el *list.Element) {
	e := el.Value.(*viewEntry)
	v.lru.Remove(el)
	delete(v.m, e.key)
	v.cost -= e.cost
}

// forget drops everything the view holds of a shard.
func (v *stateView) forget(shard string) {
	v.mu.Lock()
	v.gen[shard]++
	v.mu.Unlock()
}

// Role returns the current version of a role of a shard, as
// store.State.Role does. The RoleFile's Data must not be changed.
func (v *stateView) Role(ctx context.Context, shard, role string) (store.RoleFile, error) {
	key := roleKey(shard, role)
	if e, ok := v.get(key); ok {
		return e.role, nil
	}
	gen := v.generation(shard)
	rf, err := v.st.Role(ctx, shard, role)
	if err == nil {
		v.put(&viewEntry{key: key, shard: shard, gen: gen, cost: len(rf.Data) + 256, role: rf})
	}
	return rf, err
}

// Project returns a project record, as store.State.Project does.
func (v *stateView) Project(ctx context.Context, name string) (store.Project, error) {
	key := projectKey(name)
	if e, ok := v.get(key); ok {
		return e.proj, nil
	}
	shard := layout.ShardOf(name, v.shards)
	gen := v.generation(shard)
	pr, err := v.st.Project(ctx, name)
	if err == nil {
		v.put(&viewEntry{key: key, shard: shard, gen: gen, cost: projectCost(pr), proj: pr})
	}
	return pr, err
}

// Files returns a project's file records, as store.State.Files does; the
// slice is the caller's.
func (v *stateView) Files(ctx context.Context, project string) ([]store.FileRecord, error) {
	key := filesKey(project)
	if e, ok := v.get(key); ok {
		return slices.Clone(e.files), nil
	}
	shard := layout.ShardOf(project, v.shards)
	gen := v.generation(shard)
	files, err := v.st.Files(ctx, project)
	if err == nil {
		// Kept in byte order of path (a PostgreSQL collation may order
		// them otherwise), for committed's binary search.
		files = slices.Clone(files)
		slices.SortFunc(files, func(a, b store.FileRecord) int { return strings.Compare(a.Path, b.Path) })
		v.put(&viewEntry{key: key, shard: shard, gen: gen, cost: filesCost(files), files: files})
		return slices.Clone(files), nil
	}
	return files, err
}

// committed records what a publication the store just committed changed.
func (v *stateView) committed(pub store.Publication) {
	for _, r := range pub.Roles {
		gen := v.generation(r.Shard)
		v.put(&viewEntry{key: roleKey(r.Shard, r.Role), shard: r.Shard, gen: gen, cost: len(r.Data) + 256, role: r})
	}
	for _, pr := range pub.Projects {
		shard := layout.ShardOf(pr.Name, v.shards)
		gen := v.generation(shard)
		if e, ok := v.get(projectKey(pr.Name)); ok {
			// The store keeps a project's name, display name, shard and
			// creation time as first written.
			pr.Display, pr.Shard, pr.Created = e.proj.Display, e.proj.Shard, e.proj.Created
		}
		v.put(&viewEntry{key: projectKey(pr.Name), shard: shard, gen: gen, cost: projectCost(pr), proj: pr})
	}
	byProject := map[string][]store.FileRecord{}
	for _, f := range pub.Files {
		byProject[f.Project] = append(byProject[f.Project], f)
	}
	for project, recs := range byProject {
		e, ok := v.get(filesKey(project))
		if !ok {
			continue // read from the store when next needed
		}
		files := slices.Clone(e.files)
		for _, f := range recs {
			i, found := slices.BinarySearchFunc(files, f.Path, func(a store.FileRecord, p string) int { return strings.Compare(a.Path, p) })
			if found {
				// As the store does: a record changes only its removed flag.
				files[i].Removed = f.Removed
				continue
			}
			files = slices.Insert(files, i, f)
		}
		v.put(&viewEntry{key: e.key, shard: e.shard, gen: e.gen, cost: filesCost(files), files: files})
	}
}

func projectCost(pr store.Project) int {
	return 256 + len(pr.Name) + len(pr.Display) + len(pr.BlockReason)
}

func filesCost(files []store.FileRecord) int {
	n := 128
	for _, f := range files {
		n += 96 + len(f.Path) + len(f.SHA256)
	}
	return n
}
