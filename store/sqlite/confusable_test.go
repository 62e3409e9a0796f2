package sqlite_test

import (
	"database/sql"
	"errors"
	"testing"

	"hallmark.dev/hallmark/store"
)

// TestProjectLikeFindsLookAlikes: ProjectLike finds an existing project with
// the same skeleton, never the project itself, and works for projects stored
// before skeletons were kept (filled in when the database opens).
func TestProjectLikeFindsLookAlikes(t *testing.T) {
	db, path := newDB(t)
	var pub store.Publication
	for _, n := range []string{"hello-world", "numpy"} {
		pub.Projects = append(pub.Projects, store.Project{Name: n, Display: n, Shard: "0", Status: store.StatusNew, Created: t0})
	}
	if err := db.Commit(ctx, pub); err != nil {
		t.Fatal(err)
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
	run := func(st store.State) {
		t.Helper()
		for _, tt := range tests {
			p, err := st.ProjectLike(ctx, tt.name)
			switch {
			case tt.want == "" && !errors.Is(err, store.ErrNotFound):
				t.Errorf("ProjectLike(%s) = %v, %v; want not found", tt.name, p.Name, err)
			case tt.want != "" && (err != nil || p.Name != tt.want):
				t.Errorf("ProjectLike(%s) = %v, %v; want %s", tt.name, p.Name, err, tt.want)
			}
		}
	}
	run(db)

	// A database from before skeletons: the rows are missing until the
	// next open fills them in.
	db.Close()
	raw, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`DELETE FROM skeletons`); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	run(open(t, path))
}
