package layout

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
)

// ShardCounts are the shard counts a repository may be created with.
var ShardCounts = []int{1, 16, 256, 4096}

// DefaultShards is the shard count used when none is chosen.
const DefaultShards = 16

// CheckShardCount returns an error unless n is one of ShardCounts.
func CheckShardCount(n int) error {
	for _, c := range ShardCounts {
		if n == c {
			return nil
		}
	}
	return fmt.Errorf("shard count %d is not supported: choose 1, 16, 256 or 4096", n)
}

// shardDigits is log16(n): the number of hex digits in a shard id.
func shardDigits(n int) int {
	d := 0
	for n > 1 {
		n /= 16
		d++
	}
	return d
}

// ShardOf returns the id of the shard that holds the (normalized) project:
// the first log16(shards) hex digits of sha256(project), or "0" with one shard.
func ShardOf(project string, shards int) string {
	d := shardDigits(shards)
	if d == 0 {
		return "0"
	}
	sum := sha256.Sum256([]byte(project))
	return hex.EncodeToString(sum[:])[:d]
}

// ShardIDs lists every shard id of a repository with the given shard count,
// in order.
func ShardIDs(shards int) []string {
	d := shardDigits(shards)
	if d == 0 {
		return []string{"0"}
	}
	ids := make([]string, shards)
	for i := range ids {
		ids[i] = fmt.Sprintf("%0*x", d, i)
	}
	return ids
}

// IsShardID reports whether id names a shard of a repository with the given
// shard count.
func IsShardID(id string, shards int) bool {
	d := shardDigits(shards)
	if d == 0 {
		return id == "0"
	}
	if len(id) != d {
		return false
	}
	return strings.Trim(id, "0123456789abcdef") == ""
}
