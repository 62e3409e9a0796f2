// Package storetest is the test suite every store.State implementation
// passes: store/sqlite and store/postgres run the same table of tests, so
// the server sees one behaviour whichever backend it is given.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"hallmark.dev/hallmark/store"
)

// Backend opens stores of one implementation for the suite.
type Backend struct {
	// New returns the address (a file path, a database URL) of a new,
	// empty store.
	New func(t testing.TB) string
	// Open opens the store at an address; the suite closes it.
	Open func(t testing.TB, addr string) (store.State, error)
}

// Run runs every test of the suite against b.
func Run(t *testing.T, b Backend) {
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, b) })
	}
}

var tests = []struct {
	name string
	run  func(*testing.T, Backend)
}{
	{"CommitThenRead", testCommitThenRead},
	{"ListProjectsPages", testListProjectsPages},
	{"AuditIsNewestFirst", testAuditIsNewestFirst},
	{"CommitOfAnExistingRoleVersionChangesNothing", testCommitOfAnExistingRoleVersionChangesNothing},
	{"CommitRefusesOtherContentForAPublishedPath", testCommitRefusesOtherContentForAPublishedPath},
	{"RemovedFlagRoundTrip", testRemovedFlagRoundTrip},
	{"CommitOfAKnownProjectUpdatesOnlyItsStatus", testCommitOfAKnownProjectUpdatesOnlyItsStatus},
	{"CurrentRoleNeverGoesBack", testCurrentRoleNeverGoesBack},
	{"DataPersistsAcrossReopen", testDataPersistsAcrossReopen},
	{"Settings", testSettings},
	{"ConcurrentCommitsOfOneVersionHaveOneWinner", testConcurrentCommitsOfOneVersionHaveOneWinner},
	{"SearchProjectsPrefixThenSubstring", testSearchProjectsPrefixThenSubstring},
	{"RecentAuditSpansProjectsNewestFirst", testRecentAuditSpansProjectsNewestFirst},
	{"RoleExpiriesReadsLatestVersionsWithoutData", testRoleExpiriesReadsLatestVersionsWithoutData},
	{"PendingChangesRoundTrip", testPendingChangesRoundTrip},
	{"ProjectFiltersAndCounts", testProjectFiltersAndCounts},
	{"ProjectLikeFindsLookAlikes", testProjectLikeFindsLookAlikes},
}

// open opens the store at addr, closing it when the test ends.
func (b Backend) open(t testing.TB, addr string) store.State {
	t.Helper()
	db, err := b.Open(t, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// fresh opens a new, empty store.
func (b Backend) fresh(t *testing.T) store.State { return b.open(t, b.New(t)) }

var (
	ctx = context.Background()
	// t0 has microseconds: stores keep times to the microsecond
	// (PostgreSQL's timestamptz).
	t0 = time.Date(2026, 5, 1, 10, 30, 0, 123456000, time.UTC)
)

func role(shard, name string, version int64) store.RoleFile {
	return store.RoleFile{Shard: shard, Role: name, Version: version, Expires: t0.Add(time.Duration(version) * time.Hour),
		Data: []byte(fmt.Sprintf(`{"role":%q,"version":%d}`, name, version))}
}

// firstPublication creates project demo in shard 3: its two roles, its
// file, a new bin, snapshot and timestamp, and an audit line.
func firstPublication() store.Publication {
	return store.Publication{
		Shard: "3",
		Roles: []store.RoleFile{
			role("3", "demo", 1), role("3", "demo.releases", 1), role("3", "new.3", 2),
			role("3", "snapshot", 2), role("3", "timestamp", 2),
		},
		Projects: []store.Project{{Name: "demo", Display: "Demo", Shard: "3", Status: store.StatusNew, Created: t0}},
		Files:    []store.FileRecord{{Project: "demo", Path: "demo/1.0.0/demo.tar.gz", SHA256: "aa", Length: 10}},
		Audit:    []store.AuditEntry{{Time: t0, Project: "demo", Action: "create", Detail: "project Demo created", KeyIDs: []string{"k1", "k2"}}},
	}
}

// dump is everything a reader can see of shard 3 and project demo.
func dump(t *testing.T, db store.State) string {
	t.Helper()
	roles, err := db.ShardRoles(ctx, "3")
	if err != nil {
		t.Fatal(err)
	}
	files, err := db.Files(ctx, "demo")
	if err != nil {
		t.Fatal(err)
	}
	audit, err := db.Audit(ctx, "demo", 100)
	if err != nil {
		t.Fatal(err)
	}
	projects, err := db.ListProjects(ctx, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	var vers []string
	for _, r := range roles {
		vers = append(vers, fmt.Sprintf("%s@%d", r.Role, r.Version))
	}
	return fmt.Sprintf("roles %v\nfiles %+v\naudit %d\nprojects %+v", vers, files, len(audit), projects)
}

func testCommitThenRead(t *testing.T, b Backend) {
	db := b.fresh(t)
	if err := db.Commit(ctx, firstPublication()); err != nil {
		t.Fatal(err)
	}

	r, err := db.Role(ctx, "3", "demo.releases")
	if err != nil || r.Version != 1 || string(r.Data) != string(role("3", "demo.releases", 1).Data) || !r.Expires.Equal(t0.Add(time.Hour)) {
		t.Errorf("Role = %+v, %v", r, err)
	}
	if _, err := db.Role(ctx, "4", "demo.releases"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Role in another shard: %v; want ErrNotFound", err)
	}

	// A second publication moves the snapshot on; the old version stays
	// readable by number.
	if err := db.Commit(ctx, store.Publication{Shard: "3", Roles: []store.RoleFile{role("3", "snapshot", 3), role("3", "timestamp", 3)}}); err != nil {
		t.Fatal(err)
	}
	if r, _ := db.Role(ctx, "3", "snapshot"); r.Version != 3 {
		t.Errorf("current snapshot is version %d; want 3", r.Version)
	}
	old, err := db.RoleVersion(ctx, "3", "snapshot", 2)
	if err != nil || string(old.Data) != string(role("3", "snapshot", 2).Data) {
		t.Errorf("RoleVersion(snapshot, 2) = %+v, %v", old, err)
	}
	if _, err := db.RoleVersion(ctx, "3", "snapshot", 9); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("RoleVersion of a missing version: %v", err)
	}

	roles, err := db.ShardRoles(ctx, "3")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range roles {
		names = append(names, fmt.Sprintf("%s@%d", r.Role, r.Version))
	}
	if want := []string{"demo@1", "demo.releases@1", "new.3@2", "snapshot@3", "timestamp@3"}; !slices.Equal(names, want) {
		t.Errorf("ShardRoles = %v; want %v", names, want)
	}

	p, err := db.Project(ctx, "demo")
	if err != nil || p.Display != "Demo" || p.Shard != "3" || p.Status != store.StatusNew || !p.Created.Equal(t0) {
		t.Errorf("Project = %+v, %v", p, err)
	}
	if _, err := db.Project(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Project(nope): %v", err)
	}

	files, err := db.Files(ctx, "demo")
	if err != nil || len(files) != 1 || files[0] != (store.FileRecord{Project: "demo", Path: "demo/1.0.0/demo.tar.gz", SHA256: "aa", Length: 10}) {
		t.Errorf("Files = %+v, %v", files, err)
	}

	audit, err := db.Audit(ctx, "demo", 10)
	if err != nil || len(audit) != 1 || audit[0].Action != "create" || !slices.Equal(audit[0].KeyIDs, []string{"k1", "k2"}) || !audit[0].Time.Equal(t0) {
		t.Errorf("Audit = %+v, %v", audit, err)
	}
}

func testListProjectsPages(t *testing.T, b Backend) {
	db := b.fresh(t)
	var pub store.Publication
	for _, n := range []string{"delta", "alpha", "charlie", "bravo", "echo"} {
		pub.Projects = append(pub.Projects, store.Project{Name: n, Display: n, Shard: "0", Status: store.StatusNew, Created: t0})
	}
	if err := db.Commit(ctx, pub); err != nil {
		t.Fatal(err)
	}
	var got []string
	after := ""
	for {
		page, err := db.ListProjects(ctx, after, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		if len(page) > 2 {
			t.Fatalf("page of %d; limit 2", len(page))
		}
		for _, p := range page {
			got = append(got, p.Name)
		}
		after = page[len(page)-1].Name
	}
	if want := []string{"alpha", "bravo", "charlie", "delta", "echo"}; !slices.Equal(got, want) {
		t.Errorf("pages gave %v; want %v", got, want)
	}
}

func testAuditIsNewestFirst(t *testing.T, b Backend) {
	db := b.fresh(t)
	for i := range 5 {
		a := store.AuditEntry{Time: t0.Add(time.Duration(i) * time.Minute), Project: "demo", Action: fmt.Sprintf("a%d", i)}
		if err := db.Commit(ctx, store.Publication{Audit: []store.AuditEntry{a}}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := db.Audit(ctx, "demo", 3)
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, a := range got {
		actions = append(actions, a.Action)
		if a.KeyIDs != nil {
			t.Errorf("entry without keys reads back keys %v", a.KeyIDs)
		}
	}
	if want := []string{"a4", "a3", "a2"}; !slices.Equal(actions, want) {
		t.Errorf("Audit = %v; want %v", actions, want)
	}
	if other, _ := db.Audit(ctx, "other", 10); len(other) != 0 {
		t.Errorf("another project's audit has %d entries", len(other))
	}
}

// Two publishers racing for the same shard: the second one's commit must
// fail as a whole, leaving the first one's state exactly as it was.
func testCommitOfAnExistingRoleVersionChangesNothing(t *testing.T, b Backend) {
	db := b.fresh(t)
	if err := db.Commit(ctx, firstPublication()); err != nil {
		t.Fatal(err)
	}
	before := dump(t, db)
	racing := store.Publication{
		Shard: "3",
		Roles: []store.RoleFile{
			role("3", "other", 1), // new: must not stay behind
			role("3", "snapshot", 2),
			role("3", "timestamp", 3),
		},
		Projects: []store.Project{{Name: "other", Display: "other", Shard: "3", Status: store.StatusNew, Created: t0}},
		Files:    []store.FileRecord{{Project: "demo", Path: "demo/2.0.0/x", SHA256: "bb", Length: 1}},
		Audit:    []store.AuditEntry{{Time: t0, Project: "demo", Action: "releases"}},
	}
	err := db.Commit(ctx, racing)
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("Commit of snapshot version 2 again: %v; want ErrConflict", err)
	}
	if after := dump(t, db); after != before {
		t.Errorf("a failed commit changed the state:\nbefore %s\nafter  %s", before, after)
	}
	if _, err := db.Role(ctx, "3", "other"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("role of the failed commit is there: %v", err)
	}
	if _, err := db.Project(ctx, "other"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("project of the failed commit is there: %v", err)
	}
	if r, _ := db.RoleVersion(ctx, "3", "snapshot", 2); string(r.Data) != string(role("3", "snapshot", 2).Data) {
		t.Errorf("the published snapshot was overwritten: %s", r.Data)
	}
}

// A file name, once published, is never re-used with other content; the
// store refuses it even if validation were bypassed.
func testCommitRefusesOtherContentForAPublishedPath(t *testing.T, b Backend) {
	db := b.fresh(t)
	if err := db.Commit(ctx, firstPublication()); err != nil {
		t.Fatal(err)
	}
	before := dump(t, db)
	err := db.Commit(ctx, store.Publication{
		Shard: "3",
		Roles: []store.RoleFile{role("3", "demo.releases", 2), role("3", "snapshot", 3), role("3", "timestamp", 3)},
		Files: []store.FileRecord{{Project: "demo", Path: "demo/1.0.0/demo.tar.gz", SHA256: "evil", Length: 10}},
		Audit: []store.AuditEntry{{Time: t0, Project: "demo", Action: "releases"}},
	})
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("Commit of other content: %v; want ErrConflict", err)
	}
	if after := dump(t, db); after != before {
		t.Errorf("a refused commit changed the state:\nbefore %s\nafter  %s", before, after)
	}
	// Also after removal: the tombstone keeps the content.
	if err := db.Commit(ctx, store.Publication{Files: []store.FileRecord{{Project: "demo", Path: "demo/1.0.0/demo.tar.gz", SHA256: "aa", Length: 10, Removed: true}}}); err != nil {
		t.Fatal(err)
	}
	err = db.Commit(ctx, store.Publication{Files: []store.FileRecord{{Project: "demo", Path: "demo/1.0.0/demo.tar.gz", SHA256: "evil", Length: 10}}})
	if !errors.Is(err, store.ErrConflict) {
		t.Errorf("re-use of a removed path with other content: %v; want ErrConflict", err)
	}
}

func testRemovedFlagRoundTrip(t *testing.T, b Backend) {
	db := b.fresh(t)
	rec := store.FileRecord{Project: "demo", Path: "demo/1.0.0/demo.tar.gz", SHA256: "aa", Length: 10}
	for _, removed := range []bool{false, true, true, false} {
		rec.Removed = removed
		if err := db.Commit(ctx, store.Publication{Files: []store.FileRecord{rec}}); err != nil {
			t.Fatalf("Commit removed=%v: %v", removed, err)
		}
		files, err := db.Files(ctx, "demo")
		if err != nil || len(files) != 1 || files[0] != rec {
			t.Errorf("after removed=%v: Files = %+v, %v", removed, files, err)
		}
	}
}

// Claiming a project changes its status, never its display name or date.
func testCommitOfAKnownProjectUpdatesOnlyItsStatus(t *testing.T, b Backend) {
	db := b.fresh(t)
	if err := db.Commit(ctx, firstPublication()); err != nil {
		t.Fatal(err)
	}
	claim := store.Project{Name: "demo", Display: "DEMO", Shard: "9", Status: store.StatusClaimed, Created: t0.Add(time.Hour)}
	if err := db.Commit(ctx, store.Publication{Projects: []store.Project{claim}}); err != nil {
		t.Fatal(err)
	}
	p, _ := db.Project(ctx, "demo")
	if p.Status != store.StatusClaimed || p.Display != "Demo" || p.Shard != "3" || !p.Created.Equal(t0) {
		t.Errorf("Project after claim = %+v", p)
	}
}

// A late publisher committing an older version must never move the current
// pointer back (versions only grow).
func testCurrentRoleNeverGoesBack(t *testing.T, b Backend) {
	db := b.fresh(t)
	for _, v := range []int64{1, 3, 2} {
		if err := db.Commit(ctx, store.Publication{Roles: []store.RoleFile{role("0", "snapshot", v)}}); err != nil {
			t.Fatal(err)
		}
	}
	if r, _ := db.Role(ctx, "0", "snapshot"); r.Version != 3 {
		t.Errorf("current snapshot is version %d; want 3", r.Version)
	}
}

func testDataPersistsAcrossReopen(t *testing.T, b Backend) {
	addr := b.New(t)
	db := b.open(t, addr)
	if err := db.Commit(ctx, firstPublication()); err != nil {
		t.Fatal(err)
	}
	if err := db.PutSetting(ctx, "online-key-ids", "abc"); err != nil {
		t.Fatal(err)
	}
	before := dump(t, db)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	again := b.open(t, addr)
	if err := again.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if after := dump(t, again); after != before {
		t.Errorf("state changed across reopen:\nbefore %s\nafter  %s", before, after)
	}
	if v, err := again.Setting(ctx, "online-key-ids"); err != nil || v != "abc" {
		t.Errorf("Setting = %q, %v", v, err)
	}
}

func testSettings(t *testing.T, b Backend) {
	db := b.fresh(t)
	if _, err := db.Setting(ctx, "k"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Setting of a missing key: %v", err)
	}
	for _, v := range []string{"one", "two"} {
		if err := db.PutSetting(ctx, "k", v); err != nil {
			t.Fatal(err)
		}
		if got, err := db.Setting(ctx, "k"); err != nil || got != v {
			t.Errorf("Setting = %q, %v; want %q", got, err, v)
		}
	}
}

// Two replicas on one database publish the same snapshot version at once:
// exactly one wins, the other learns of the conflict.
func testConcurrentCommitsOfOneVersionHaveOneWinner(t *testing.T, b Backend) {
	addr := b.New(t)
	one, two := b.open(t, addr), b.open(t, addr)
	errs := make(chan error, 2)
	for i, db := range []store.State{one, two} {
		go func() {
			r := role("0", "snapshot", 2)
			r.Data = []byte(fmt.Sprintf("replica %d", i))
			errs <- db.Commit(ctx, store.Publication{Roles: []store.RoleFile{r}})
		}()
	}
	var ok, conflict int
	for range 2 {
		switch err := <-errs; {
		case err == nil:
			ok++
		case errors.Is(err, store.ErrConflict):
			conflict++
		default:
			t.Errorf("Commit: %v", err)
		}
	}
	if ok != 1 || conflict != 1 {
		t.Errorf("%d commits won and %d conflicted; want 1 and 1", ok, conflict)
	}
}
