package layout_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"testing"

	"hallmark.dev/hallmark/layout"
)

func TestShardOfIsThePrefixOfTheNameHash(t *testing.T) {
	sum := sha256.Sum256([]byte("requests"))
	h := hex.EncodeToString(sum[:])
	tests := []struct {
		shards int
		want   string
	}{
		{1, "0"},
		{16, h[:1]},
		{256, h[:2]},
		{4096, h[:3]},
	}
	for _, tt := range tests {
		if got := layout.ShardOf("requests", tt.shards); got != tt.want {
			t.Errorf("ShardOf(requests, %d) = %q; want %q", tt.shards, got, tt.want)
		}
		if !layout.IsShardID(tt.want, tt.shards) {
			t.Errorf("IsShardID(%q, %d) = false for the project's own shard", tt.want, tt.shards)
		}
	}
}

func TestShardIDsListEveryShardOnceInOrder(t *testing.T) {
	tests := []struct {
		shards      int
		first, last string
	}{
		{1, "0", "0"},
		{16, "0", "f"},
		{256, "00", "ff"},
		{4096, "000", "fff"},
	}
	for _, tt := range tests {
		ids := layout.ShardIDs(tt.shards)
		if len(ids) != tt.shards {
			t.Errorf("ShardIDs(%d) has %d ids", tt.shards, len(ids))
			continue
		}
		if ids[0] != tt.first || ids[len(ids)-1] != tt.last {
			t.Errorf("ShardIDs(%d) runs %q..%q; want %q..%q", tt.shards, ids[0], ids[len(ids)-1], tt.first, tt.last)
		}
		if !slices.IsSorted(ids) || len(slices.Compact(slices.Clone(ids))) != len(ids) {
			t.Errorf("ShardIDs(%d) is not sorted and unique", tt.shards)
		}
		for _, id := range ids {
			if !layout.IsShardID(id, tt.shards) {
				t.Errorf("IsShardID(%q, %d) = false for a listed id", id, tt.shards)
			}
		}
		// Every project lands in a listed shard.
		for i := range 200 {
			s := layout.ShardOf(fmt.Sprintf("project-%d", i), tt.shards)
			if _, found := slices.BinarySearch(ids, s); !found {
				t.Errorf("ShardOf(project-%d, %d) = %q, which ShardIDs does not list", i, tt.shards, s)
			}
		}
	}
}

// A shard id from another shard count, or any other string, must not pass
// as a shard id: it names metadata paths and signed identities.
func TestIsShardIDRefusesForeignIDs(t *testing.T) {
	tests := []struct {
		id     string
		shards int
	}{
		{"", 1},
		{"1", 1},
		{"00", 1},
		{"", 16},
		{"00", 16},
		{"g", 16},
		{"F", 16},
		{"0", 256},
		{"000", 256},
		{"0G", 256},
		{"ab", 4096},
		{"abcd", 4096},
		{"../", 4096},
		{"+0", 16},
	}
	for _, tt := range tests {
		if layout.IsShardID(tt.id, tt.shards) {
			t.Errorf("IsShardID(%q, %d) = true", tt.id, tt.shards)
		}
	}
}

func TestCheckShardCountAcceptsOnlyPowersOfSixteen(t *testing.T) {
	for _, n := range []int{1, 16, 256, 4096} {
		if err := layout.CheckShardCount(n); err != nil {
			t.Errorf("CheckShardCount(%d): %v", n, err)
		}
	}
	for _, n := range []int{-16, 0, 2, 15, 17, 64, 255, 1024, 65536} {
		if err := layout.CheckShardCount(n); err == nil {
			t.Errorf("CheckShardCount(%d) accepted an unsupported count", n)
		}
	}
}

// shardSpread returns the smallest and largest shard population of names.
func shardSpread(names []string, shards int) (lo, hi int) {
	count := map[string]int{}
	for _, n := range names {
		count[layout.ShardOf(n, shards)]++
	}
	lo = -1
	for _, id := range layout.ShardIDs(shards) {
		c := count[id]
		if lo < 0 || c < lo {
			lo = c
		}
		if c > hi {
			hi = c
		}
	}
	return lo, hi
}

// maxSpread bounds max/min shard population. The bounds allow about six
// standard deviations of a uniform hash at the populations used.
var maxSpread = map[int]float64{16: 1.1, 256: 1.5, 4096: 2.5}

// Shards must stay balanced so no shard's snapshot or claimed bin grows
// far beyond the others. Synthetic names run everywhere; real PyPI names in
// TestRealPyPINames.
func TestShardsAreBalancedOnSyntheticNames(t *testing.T) {
	names := make([]string, 200_000)
	for i := range names {
		names[i] = fmt.Sprintf("pkg-%d-tools", i)
	}
	for _, shards := range []int{16, 256} {
		lo, hi := shardSpread(names, shards)
		if lo == 0 || float64(hi)/float64(lo) > maxSpread[shards] {
			t.Errorf("%d shards: populations %d..%d, ratio above %.2f", shards, lo, hi, maxSpread[shards])
		}
	}
}
