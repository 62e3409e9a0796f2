package storetest

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"hallmark.dev/hallmark/store"
)

// releasePublication is what one release upload commits in a 4,096-shard
// repository: the project's releases role, the shard's snapshot and
// timestamp, two file records and an audit line.
func releasePublication(i int) store.Publication {
	shard := fmt.Sprint(i % 4096)
	v := int64(i/4096 + 2)
	data := func(n int) []byte { return []byte(strings.Repeat("x", n)) }
	project := fmt.Sprintf("project-%d", i%20000)
	roles := []store.RoleFile{
		{Shard: shard, Role: project + ".releases", Version: int64(i + 2), Expires: t0, Data: data(1500)},
		{Shard: shard, Role: "snapshot", Version: v, Expires: t0, Data: data(600)},
		{Shard: shard, Role: "timestamp", Version: v, Expires: t0, Data: data(450)},
	}
	return store.Publication{
		Shard: shard, Roles: roles,
		Written: []store.RoleRef{{Shard: shard, Role: roles[0].Role, Version: roles[0].Version}, {Shard: shard, Role: "snapshot", Version: v}},
		Files: []store.FileRecord{
			{Project: project, Path: fmt.Sprintf("%s/%d/a.tar.gz", project, i), SHA256: strings.Repeat("a", 64), Length: 500},
			{Project: project, Path: fmt.Sprintf("%s/%d/b.whl", project, i), SHA256: strings.Repeat("b", 64), Length: 500},
		},
		Audit: []store.AuditEntry{{Time: t0, Project: project, Action: "release", Detail: "release 1.0.1 (2 files)", KeyIDs: []string{strings.Repeat("c", 64)}}},
	}
}

// BenchmarkCommit commits release publications one after another
// (parallelism 1) or from many goroutines at once, which a store may merge
// into shared transactions (group commit).
func BenchmarkCommit(b *testing.B, bk Backend) {
	for _, par := range []int{1, 64} {
		b.Run(fmt.Sprintf("committers=%d", par), func(b *testing.B) {
			db := bk.open(b, bk.New(b))
			var next int
			var mu sync.Mutex
			b.SetParallelism(par)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					mu.Lock()
					i := next
					next++
					mu.Unlock()
					if err := db.Commit(ctx, releasePublication(i)); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
