package publish

import (
	"bytes"
	"container/list"
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
// but skips decoding when the bytes are the ones cached: decoding was the
// largest per-batch cost, and the one that grows with the shard. Each batch
// gets a deep copy, so what a batch changes (and a failed batch leaves
// behind) never reaches the cache. The cache is bounded by an estimate of
// the memory the decoded roles take, least recently used first out, so the
// server never holds every shard's bins.
type roleCache struct {
	mu   sync.Mutex
	m    map[string]*list.Element // of *cachedRole
	lru  list.List                // front: most recently used
	cost int
	// looked counts, per role, the lookups of a delegation in one version
	// of it without decoding it (see batch.newBinDelegation).
	looked map[string]lookups
}

type lookups struct{ version, n int64 }

// decodeAfterLookups is the number of lookups in one version of a bin after
// which it is decoded into the cache: a lookup costs about a ninth of a
// decode (BenchmarkLookupDelegation), so a bin read this often is worth
// decoding once.
const decodeAfterLookups = 8

type cachedRole struct {
	key  string
	data []byte
	md   any // *metadata.Metadata[T], never handed out
	cost int
}

// roleCacheBudget bounds the estimated memory of the decoded roles: enough
// for the three online roles of every shard of a 4,096-shard repository of
// a few projects per shard (so uploads spread over all shards still hit),
// for about 1,500 shards' snapshots at PyPI's size, or for the bins and
// snapshots of a few busy shards of 6,000 projects.
const roleCacheBudget = 192 << 20

// roleCost estimates the memory a decoded role takes. Decoded, a snapshot
// takes 8 to 12 times its encoded size (a struct and a map per entry; see
// TestRoleCostCoversDecodedSize).
func roleCost(data []byte) int { return 12*len(data) + 2048 }

// loadCached returns a role of a shard as the store has it, decoded, for the
// caller to change freely; keep says whether a role decoded anew is kept.
func loadCached[T metadata.Roles](ctx context.Context, p *Publisher, shard, role string, keep bool) (*metadata.Metadata[T], error) {
	rf, err := p.view.Role(ctx, shard, role)
	if err != nil {
		return nil, fmt.Errorf("role %s: %w", role, err)
	}
	return decodeCached[T](p, shard, role, rf.Data, keep)
}

// decodeCached decodes a role of a shard from data, from the cache when it
// holds the same bytes.
func decodeCached[T metadata.Roles](p *Publisher, shard, role string, data []byte, keep bool) (*metadata.Metadata[T], error) {
	key := shard + "\x00" + role
	// A role over the size limit is refused (by Decode) whether cached or not.
	if len(data) <= tufmeta.MaxRoleSize {
		if md, ok := p.cache.get(key, data); ok {
			return cloneRole(md.(*metadata.Metadata[T])), nil
		}
	}
	md, err := tufmeta.Decode[T](data)
	if err != nil {
		return nil, err
	}
	if keep {
		p.cache.put(key, data, cloneRole(md))
	}
	return md, nil
}

// busy counts a lookup in a version of role key and reports whether that
// version has been read often enough to decode it. It holds one count per
// shard's bin. (A stored role version never changes.)
func (c *roleCache) busy(key string, version int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.looked == nil {
		c.looked = map[string]lookups{}
	}
	l := c.looked[key]
	if l.version != version {
		l = lookups{version: version}
	}
	l.n++
	c.looked[key] = l
	return l.n > decodeAfterLookups
}

// get returns the cached role decoded from exactly data.
func (c *roleCache) get(key string, data []byte) (any, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	if !ok {
		return nil, false
	}
	r := e.Value.(*cachedRole)
	if !bytes.Equal(r.data, data) {
		return nil, false
	}
	c.lru.MoveToFront(e)
	return r.md, true
}

func (c *roleCache) put(key string, data []byte, md any) {
	cost := roleCost(data)
	if cost > roleCacheBudget/4 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]*list.Element{}
	}
	if e, ok := c.m[key]; ok {
		c.cost -= e.Value.(*cachedRole).cost
		c.lru.Remove(e)
	}
	c.m[key] = c.lru.PushFront(&cachedRole{key: key, data: data, md: md, cost: cost})
	c.cost += cost
	for c.cost > roleCacheBudget {
		oldest := c.lru.Back()
		r := oldest.Value.(*cachedRole)
		c.lru.Remove(oldest)
		delete(c.m, r.key)
		c.cost -= r.cost
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
// first error once all have returned: blob stores whose writes are requests
// (S3) or synced one by one answer many at once about as fast as one. The
// caller's write order between phases is kept: it returns only when every
// put has.
func writeConcurrently(n int, put func(i int) error) error {
	const writers = 16
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
	if !b.keep {
		return
	}
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
