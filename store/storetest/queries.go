package storetest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"hallmark.dev/hallmark/store"
)

// The web UI's search: names starting with the query first, then names
// containing it, each in name order, never more than the limit.
func testSearchProjectsPrefixThenSubstring(t *testing.T, b Backend) {
	db := b.fresh(t)
	var pub store.Publication
	for _, n := range []string{"foo", "foo-bar", "foobar", "my-foo", "afoo-b", "bar", "fo", "zfoo"} {
		pub.Projects = append(pub.Projects, store.Project{Name: n, Display: n, Shard: "0", Status: store.StatusNew, Created: t0})
	}
	if err := db.Commit(ctx, pub); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		query string
		limit int
		want  []string
	}{
		{"foo", 10, []string{"foo", "foo-bar", "foobar", "afoo-b", "my-foo", "zfoo"}},
		{"foo", 2, []string{"foo", "foo-bar"}},
		{"foo", 4, []string{"foo", "foo-bar", "foobar", "afoo-b"}},
		{"bar", 10, []string{"bar", "foo-bar", "foobar"}},
		{"fo", 1, []string{"fo"}},
		{"nothing", 10, nil},
		{"", 10, nil},
		// Characters with meaning in LIKE patterns are plain text here.
		{"%", 10, nil},
		{"_", 10, nil},
	}
	for _, tt := range tests {
		got, err := db.SearchProjects(ctx, tt.query, tt.limit)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, p := range got {
			names = append(names, p.Name)
		}
		if !slices.Equal(names, tt.want) {
			t.Errorf("SearchProjects(%q, %d) = %v; want %v", tt.query, tt.limit, names, tt.want)
		}
	}
}

func testRecentAuditSpansProjectsNewestFirst(t *testing.T, b Backend) {
	db := b.fresh(t)
	for i, p := range []string{"a", "b", "a", "c"} {
		e := store.AuditEntry{Time: t0.Add(time.Duration(i) * time.Minute), Project: p, Action: "change", Detail: p, KeyIDs: []string{"k"}}
		if err := db.Commit(ctx, store.Publication{Audit: []store.AuditEntry{e}}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := db.RecentAudit(ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, e := range got {
		order = append(order, e.Project)
	}
	if want := []string{"c", "a", "b"}; !slices.Equal(order, want) {
		t.Errorf("RecentAudit = %v; want %v", order, want)
	}
	if !got[0].Time.Equal(t0.Add(3*time.Minute)) || !slices.Equal(got[0].KeyIDs, []string{"k"}) {
		t.Errorf("RecentAudit lost fields: %+v", got[0])
	}
}

func testRoleExpiriesReadsLatestVersionsWithoutData(t *testing.T, b Backend) {
	db := b.fresh(t)
	if err := db.Commit(ctx, firstPublication()); err != nil {
		t.Fatal(err)
	}
	if err := db.Commit(ctx, store.Publication{Shard: "3", Roles: []store.RoleFile{role("3", "timestamp", 3)}}); err != nil {
		t.Fatal(err)
	}
	got, err := db.RoleExpiries(ctx, "3", []string{"timestamp", "missing", "new.3"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Role != "timestamp" || got[0].Version != 3 || got[1].Role != "new.3" || got[1].Version != 2 {
		t.Fatalf("RoleExpiries = %+v", got)
	}
	if want := role("3", "timestamp", 3).Expires; !got[0].Expires.Equal(want) || got[0].Data != nil {
		t.Errorf("timestamp: expires %v (want %v), data %q", got[0].Expires, want, got[0].Data)
	}
}

// Pending changes: stored, replaced by a later signature (created and
// files kept), listed per project oldest first, deleted idempotently.
func testPendingChangesRoundTrip(t *testing.T, b Backend) {
	db := b.fresh(t)
	mk := func(id, project string, created time.Time) store.PendingChange {
		return store.PendingChange{ID: id, Project: project, Created: created, Expires: created.Add(time.Hour),
			Change: []byte(`{"sigs":1}`), Summary: "add release 1.0.0 with 1 file",
			Files: []store.FileRecord{{Project: project, Path: project + "/1.0.0/f", SHA256: "aa", Length: 3}}}
	}
	for _, p := range []store.PendingChange{mk("c2", "demo", t0.Add(time.Minute)), mk("c1", "demo", t0), mk("c3", "other", t0)} {
		if err := db.PutPending(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Pending(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Pending(nope): %v; want ErrNotFound", err)
	}
	signed := mk("c1", "demo", t0.Add(time.Hour))
	signed.Change, signed.Summary, signed.Files = []byte(`{"sigs":2}`), "two signatures", nil
	if err := db.PutPending(ctx, signed); err != nil {
		t.Fatal(err)
	}
	got, err := db.Pending(ctx, "c1")
	want := mk("c1", "demo", t0)
	want.Change, want.Summary = signed.Change, signed.Summary
	if err != nil || got.ID != want.ID || !got.Created.Equal(want.Created) || !got.Expires.Equal(want.Expires) ||
		string(got.Change) != string(want.Change) || got.Summary != want.Summary || !slices.Equal(got.Files, want.Files) {
		t.Errorf("Pending(c1) = %+v, %v; want %+v", got, err, want)
	}
	ids := func(project string) []string {
		list, err := db.ListPending(ctx, project)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, p := range list {
			out = append(out, p.ID)
		}
		return out
	}
	if got := ids("demo"); !slices.Equal(got, []string{"c1", "c2"}) {
		t.Errorf("ListPending(demo) = %v", got)
	}
	if got := ids(""); !slices.Equal(got, []string{"c1", "c3", "c2"}) {
		t.Errorf("ListPending(all) = %v", got)
	}
	for range 2 {
		if err := db.DeletePending(ctx, "c1"); err != nil {
			t.Fatal(err)
		}
	}
	if got := ids("demo"); !slices.Equal(got, []string{"c2"}) {
		t.Errorf("after DeletePending: %v", got)
	}
}

// The admins' queue and the front page: filters and counts by status.
func testProjectFiltersAndCounts(t *testing.T, b Backend) {
	db := b.fresh(t)
	projects := []store.Project{
		{Name: "a", Status: store.StatusNew},
		{Name: "b", Status: store.StatusClaimed, OwnerRequest: true},
		{Name: "c", Status: store.StatusNew, Blocked: true, BlockReason: "malware"},
		{Name: "d", Status: store.StatusClaimed, Blocked: true, BlockReason: "spam"},
	}
	for i := range projects {
		projects[i].Display, projects[i].Shard, projects[i].Created = projects[i].Name, "0", t0
	}
	if err := db.Commit(ctx, store.Publication{Projects: projects}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		f     store.ProjectFilter
		after string
		want  []string
	}{
		{store.ProjectFilter{}, "", []string{"a", "b", "c", "d"}},
		{store.ProjectFilter{Status: store.StatusClaimed}, "", []string{"b", "d"}},
		{store.ProjectFilter{Blocked: true}, "", []string{"c", "d"}},
		{store.ProjectFilter{Blocked: true}, "c", []string{"d"}},
		{store.ProjectFilter{OwnerRequest: true}, "", []string{"b"}},
		{store.ProjectFilter{Status: store.StatusNew, OwnerRequest: true}, "", nil},
	}
	for _, tt := range tests {
		got, err := db.ListProjectsWhere(ctx, tt.f, tt.after, 10)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, p := range got {
			names = append(names, p.Name)
		}
		if !slices.Equal(names, tt.want) {
			t.Errorf("ListProjectsWhere(%+v, %q) = %v; want %v", tt.f, tt.after, names, tt.want)
		}
	}
	if p, _ := db.Project(ctx, "d"); !p.Blocked || p.BlockReason != "spam" {
		t.Errorf("Project(d) = %+v", p)
	}
	counts, err := db.CountProjects(ctx)
	if err != nil || counts[store.StatusNew] != 2 || counts[store.StatusClaimed] != 2 || len(counts) != 2 {
		t.Errorf("CountProjects = %v, %v", counts, err)
	}
}

// ProjectLike finds an existing project whose name has the same skeleton,
// never the project itself.
func testProjectLikeFindsLookAlikes(t *testing.T, b Backend) {
	db := b.fresh(t)
	CheckProjectLike(t, db, true)
}

// CheckProjectLike checks ProjectLike on a store; with commit it first
// stores the projects hello-world and numpy.
func CheckProjectLike(t *testing.T, db store.State, commit bool) {
	t.Helper()
	if commit {
		var pub store.Publication
		for _, n := range []string{"hello-world", "numpy"} {
			pub.Projects = append(pub.Projects, store.Project{Name: n, Display: n, Shard: "0", Status: store.StatusNew, Created: t0})
		}
		if err := db.Commit(ctx, pub); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name, want string
	}{
		{"he11o-world", "hello-world"},
		{"hellow0rld", "hello-world"},
		{"hello-world", ""}, // itself
		{"nurnpy", "numpy"},
		{"scipy", ""},
	}
	for _, tt := range tests {
		p, err := db.ProjectLike(ctx, tt.name)
		switch {
		case tt.want == "" && !errors.Is(err, store.ErrNotFound):
			t.Errorf("ProjectLike(%s) = %v, %v; want not found", tt.name, p.Name, err)
		case tt.want != "" && (err != nil || p.Name != tt.want):
			t.Errorf("ProjectLike(%s) = %v, %v; want %s", tt.name, p.Name, err, tt.want)
		}
	}
}
