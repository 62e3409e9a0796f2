package publish

import (
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// A large shard's meta names, kept in order for one snapshot version, give
// the next snapshot's names in order, the names a batch adds included; for
// another version, or a small shard, they are sorted afresh (or left to
// tufmeta).
func TestOrderedNamesFollowTheSnapshot(t *testing.T) {
	p := &Publisher{}
	old := metadata.Snapshot(time.Now())
	old.Signed.Version = 7
	for i := range orderedMinimum + 40 {
		old.Signed.Meta[fmt.Sprintf("p%04d.releases.json", i*3)] = metadata.MetaFile(1)
	}
	sortedOf := func(m map[string]*metadata.MetaFiles) []string { return slices.Sorted(maps.Keys(m)) }
	p.keepOrder("0", old.Signed.Version, sortedOf(old.Signed.Meta))
	next := maps.Clone(old.Signed.Meta)
	next["p0001.releases.json"] = metadata.MetaFile(1) // inside
	next["a.json"] = metadata.MetaFile(1)              // first
	next["zz.json"] = metadata.MetaFile(1)             // last
	next["p0003.releases.json"] = metadata.MetaFile(2) // changed, not added
	if got := p.orderedNames("0", old, next); !slices.Equal(got, sortedOf(next)) {
		t.Fatalf("names with additions are not the sorted names: %d of %d", len(got), len(next))
	}
	if got := p.orderedNames("0", old, maps.Clone(old.Signed.Meta)); !slices.Equal(got, sortedOf(old.Signed.Meta)) {
		t.Fatal("names without additions are not the sorted names")
	}
	old.Signed.Version = 8 // the kept names are of version 7
	delete(next, "a.json")
	if got := p.orderedNames("0", old, next); !slices.Equal(got, sortedOf(next)) {
		t.Fatal("names kept for another version were used")
	}
	small := metadata.Snapshot(time.Now())
	small.Signed.Meta["x.json"] = metadata.MetaFile(1)
	if got := p.orderedNames("1", small, small.Signed.Meta); got != nil {
		t.Fatalf("a small shard's names = %q; want nil (tufmeta sorts them)", got)
	}
}
