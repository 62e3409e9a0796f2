package publish

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"hallmark.dev/hallmark/layout"
	"hallmark.dev/hallmark/store"
	"hallmark.dev/hallmark/tufmeta"
)

// roleCache keeps the decoded form of the roles every batch loads (snapshot,
// timestamp, new bin), with the exact bytes they were decoded from. A batch
// still reads each role from the store, which stays the one source of truth,
// but skips decoding when the bytes are the ones cached: decoding the new bin
// was the largest per-batch cost that grows with the shard. Each batch gets
// a deep copy, so what a batch changes (and a failed batch leaves behind)
// never reaches the cache. The cache is bounded by the size of the cached
// bytes, least recently used first out, so the server never holds every
// shard's bins.
type roleCache struct {
	mu    sync.Mutex
	m     map[string]*cachedRole
	bytes int
	clock uint64
}

type cachedRole struct {
	data []byte
	md   any // *metadata.Metadata[T], never handed out
	used uint64
}

// roleCacheBudget bounds the encoded size of the cached roles, and
// roleCacheEntries their number (decoded, a role takes several times its
// encoded size; with 4,096 shards the count is what binds).
const (
	roleCacheBudget  = 16 << 20
	roleCacheEntries = 1024
)

// loadCached returns a role of a shard as the store has it, decoded, for the
// caller to change freely.
func loadCached[T metadata.Roles](ctx context.Context, p *Publisher, shard, role string) (*metadata.Metadata[T], error) {
	rf, err := p.cfg.State.Role(ctx, shard, role)
	if err != nil {
		return nil, fmt.Errorf("role %s: %w", role, err)
	}
	key := shard + "\x00" + role
	c := &p.cache
	c.mu.Lock()
	// A role over the size limit is refused (by Decode) whether cached or not.
	if e, ok := c.m[key]; ok && len(rf.Data) <= tufmeta.MaxRoleSize && bytes.Equal(e.data, rf.Data) {
		c.clock++
		e.used = c.clock
		md := e.md.(*metadata.Metadata[T])
		c.mu.Unlock()
		return cloneRole(md), nil
	}
	c.mu.Unlock()
	md, err := tufmeta.Decode[T](rf.Data)
	if err != nil {
		return nil, err
	}
	c.put(key, rf.Data, cloneRole(md))
	return md, nil
}

func (c *roleCache) put(key string, data []byte, md any) {
	if len(data) > roleCacheBudget/2 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]*cachedRole{}
	}
	if old, ok := c.m[key]; ok {
		c.bytes -= len(old.data)
	}
	c.clock++
	c.m[key] = &cachedRole{data: data, md: md, used: c.clock}
	c.bytes += len(data)
	for c.bytes > roleCacheBudget || len(c.m) > roleCacheEntries {
		var oldest string
		var at uint64
		for k, e := range c.m {
			if oldest == "" || e.used < at {
				oldest, at = k, e.used
			}
		}
		c.bytes -= len(c.m[oldest].data)
		delete(c.m, oldest)
	}
}

// cloneRole deep-copies what a batch may change in a role: the maps and
// slices of its signed part and its signatures.
func cloneRole[T metadata.Roles](md *metadata.Metadata[T]) *metadata.Metadata[T] {
	out := *md
	out.Signatures = slices.Clone(md.Signatures)
	out.UnrecognizedFields = maps.Clone(md.UnrecognizedFields)
	switch s := any(&out.Signed).(type) {
	case *metadata.SnapshotType:
		s.Meta = maps.Clone(s.Meta)
		s.UnrecognizedFields = maps.Clone(s.UnrecognizedFields)
	case *metadata.TimestampType:
		s.Meta = maps.Clone(s.Meta)
		s.UnrecognizedFields = maps.Clone(s.UnrecognizedFields)
	case *metadata.TargetsType:
		s.Targets = maps.Clone(s.Targets)
		s.UnrecognizedFields = maps.Clone(s.UnrecognizedFields)
		if d := s.Delegations; d != nil {
			nd := *d
			nd.Keys = maps.Clone(d.Keys)
			nd.Roles = slices.Clone(d.Roles)
			for i := range nd.Roles {
				r := &nd.Roles[i]
				r.KeyIDs = slices.Clone(r.KeyIDs)
				r.Paths = slices.Clone(r.Paths)
				r.PathHashPrefixes = slices.Clone(r.PathHashPrefixes)
				r.UnrecognizedFields = maps.Clone(r.UnrecognizedFields)
			}
			if d.SuccinctRoles != nil {
				sr := *d.SuccinctRoles
				nd.SuccinctRoles = &sr
			}
			nd.UnrecognizedFields = maps.Clone(d.UnrecognizedFields)
			s.Delegations = &nd
		}
	case *metadata.RootType:
		s.Keys = maps.Clone(s.Keys)
		s.Roles = maps.Clone(s.Roles)
		s.UnrecognizedFields = maps.Clone(s.UnrecognizedFields)
	}
	return &out
}

// writeConcurrently runs put(0) … put(n-1), a few at a time, and returns the
// first error once all have returned. Each blob write is synced on its own;
// run side by side, their syncs share the file system's journal commits, so
// a batch of many files costs about as much as a few sequential ones. The
// caller's write order between phases is kept: it returns only when every
// put has.
func writeConcurrently(n int, put func(i int) error) error {
	const writers = 8
	if n <= 1 {
		if n == 1 {
			return put(0)
		}
		return nil
	}
	errs := make([]error, n)
	sem := make(chan struct{}, writers)
	var wg sync.WaitGroup
	for i := range n {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = put(i)
			<-sem
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// remember caches, after a commit, the online roles the batch signed, as
// the objects they were encoded from: the next batch of the shard reads the
// same bytes from the store and skips decoding them. (The snapshot and the
// timestamp change with every batch, so without this every batch decoded
// them, and the snapshot grows with the shard.)
func (b *batch) remember(pub store.Publication) {
	for _, r := range pub.Roles {
		key := b.shard + "\x00" + r.Role
		switch {
		case r.Role == layout.RoleSnapshot && r.Version == b.snapshot.Signed.Version:
			b.p.cache.put(key, r.Data, cloneRole(b.snapshot))
		case r.Role == layout.RoleTimestamp && r.Version == b.timestamp.Signed.Version:
			b.p.cache.put(key, r.Data, cloneRole(b.timestamp))
		case r.Role == layout.NewRole(b.shard) && b.newDirty && r.Version == b.newBin.Signed.Version:
			b.p.cache.put(key, r.Data, cloneRole(b.newBin))
		}
	}
}
