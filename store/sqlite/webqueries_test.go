package sqlite_test

import (
	"slices"
	"testing"
	"time"

	"hallmark.dev/hallmark/store"
)

// The web UI's search: names starting with the query first, then names
// containing it, each in name order, never more than the limit.
func TestSearchProjectsPrefixThenSubstring(t *testing.T) {
	db, _ := newDB(t)
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

func TestRecentAuditSpansProjectsNewestFirst(t *testing.T) {
	db, _ := newDB(t)
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

func TestRoleExpiriesReadsLatestVersionsWithoutData(t *testing.T) {
	db, _ := newDB(t)
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
