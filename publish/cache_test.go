package publish

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"hallmark.dev/hallmark/tufmeta"
)

// snapshotOf returns an encoded snapshot listing the two roles of each of
// n projects, as a shard's snapshot does.
func snapshotOf(t testing.TB, n int) []byte {
	t.Helper()
	md := metadata.Snapshot(time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC))
	for i := range n {
		md.Signed.Meta[fmt.Sprintf("project-%d.json", i)] = metadata.MetaFile(3)
		md.Signed.Meta[fmt.Sprintf("project-%d.releases.json", i)] = metadata.MetaFile(17)
	}
	data, err := tufmeta.Encode(md)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// The cache's memory estimate must not undercount what a decoded role
// takes, or the budget would not bound the server's memory.
func TestRoleCostCoversDecodedSize(t *testing.T) {
	for _, n := range []int{0, 5, 124, 2000} {
		data := snapshotOf(t, n)
		const copies = 50
		keep := make([]*metadata.Metadata[metadata.SnapshotType], copies)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for i := range keep {
			md, err := tufmeta.Decode[metadata.SnapshotType](data)
			if err != nil {
				t.Fatal(err)
			}
			keep[i] = cloneRole(md) // what the cache keeps
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		per := int(after.HeapAlloc-before.HeapAlloc) / copies
		runtime.KeepAlive(keep)
		if cost := roleCost(data); per > cost {
			t.Errorf("snapshot of %d projects (%d bytes): decoded %d bytes, estimated %d", n, len(data), per, cost)
		} else {
			t.Logf("snapshot of %d projects (%d bytes): decoded %d bytes, estimated %d", n, len(data), per, cost)
		}
	}
}

func TestRoleCacheEvictsLeastRecentlyUsed(t *testing.T) {
	var c roleCache
	data := snapshotOf(t, 20000)
	per := roleCost(data)
	fits := roleCacheBudget / per
	for i := range fits + 3 {
		c.put(fmt.Sprint(i), data, i)
		if i == fits-1 {
			// Used again just before the cache overflows: the oldest
			// entries are now 1, 2 and 3.
			if _, ok := c.get("0", data); !ok {
				t.Fatal("entry 0 missing")
			}
		}
	}
	if c.cost > roleCacheBudget {
		t.Errorf("cost %d over the budget %d", c.cost, roleCacheBudget)
	}
	for key, want := range map[string]bool{"0": true, "1": false, "2": false, "3": false, "4": true, fmt.Sprint(fits + 2): true} {
		if _, ok := c.get(key, data); ok != want {
			t.Errorf("entry %s cached = %v; want %v", key, ok, want)
		}
	}
	if _, ok := c.get("0", append([]byte{' '}, data...)); ok {
		t.Error("an entry was returned for other bytes")
	}
	if len(c.m) != c.lru.Len() {
		t.Errorf("%d keys, %d list entries", len(c.m), c.lru.Len())
	}
}
