package publish

import (
	"maps"
	"slices"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"hallmark.dev/hallmark/tufmeta"
)

// Snapshot order: a shard's snapshot lists every role of the shard, and
// its canonical form is written in name order. Sorting 2,500 names (a
// shard of 1,250 projects) was two fifths of encoding its snapshot, once a
// batch, although a release changes no name and a creation adds two. So
// the publisher keeps each large shard's names in order, for the snapshot
// version they are the names of, and updates them with the names a batch
// adds; tufmeta.SignEncodeInOrder checks that they are exactly the
// snapshot's names, in order, and sorts them itself if they are not.

// orderedMinimum is the size from which a shard's names are kept: below
// it, sorting costs less than the memory (at 4,096 shards of 122 projects,
// 40 MB).
const orderedMinimum = 256

type snapshotOrder struct {
	version int64
	names   []string
}

// orderedNames returns the meta names of next, the snapshot about to be
// signed over old (the shard's current one), in increasing order; nil when
// the shard's names are not kept (tufmeta then sorts them).
func (p *Publisher) orderedNames(shard string, old *tufmeta.Snapshot, next map[string]*metadata.MetaFiles) []string {
	if len(next) < orderedMinimum {
		return nil
	}
	v, ok := p.order.Load(shard)
	if !ok || v.(snapshotOrder).version != old.Signed.Version {
		return slices.Sorted(maps.Keys(next))
	}
	names := v.(snapshotOrder).names
	var added []string
	for name := range next {
		if _, ok := old.Signed.Meta[name]; !ok {
			added = append(added, name)
		}
	}
	if len(added) == 0 {
		return names // shared: never changed in place
	}
	out := make([]string, 0, len(names)+len(added))
	out = append(out, names...)
	for _, name := range added {
		i, _ := slices.BinarySearch(out, name)
		out = slices.Insert(out, i, name)
	}
	return out
}

// keepOrder records a shard's meta names, in order, for its snapshot of
// version v.
func (p *Publisher) keepOrder(shard string, v int64, names []string) {
	if names == nil {
		p.order.Delete(shard)
		return
	}
	p.order.Store(shard, snapshotOrder{v, names})
}
