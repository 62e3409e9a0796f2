package publish

import (
	"container/list"
	"sync"

	"hallmark.dev/hallmark/layout"
)

// indexCacheSize bounds the parsed project indexes kept: a few MB at most
// for typical indexes (each is at most layout.MaxIndexSize).
const indexCacheSize = 1024

// indexCache keeps recently published project indexes, parsed, by the
// sha256 of their bytes. A change's audit line compares the project's new
// index with its old one; the old one is, most often, the index the
// previous change of the project published (a release's files uploaded one
// after another, a project publishing from CI), so it needs no read from
// the blob store (a request to the bucket on S3) and no parsing. The
// parsed indexes are never modified once cached.
type indexCache struct {
	mu  sync.Mutex
	m   map[string]*list.Element // of indexEntry
	lru list.List                // front: most recently used
}

type indexEntry struct {
	sum string
	ix  *layout.Index
}

func (c *indexCache) get(sum string) (*layout.Index, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[sum]
	if !ok {
		return nil, false
	}
	c.lru.MoveToFront(e)
	return e.Value.(indexEntry).ix, true
}

func (c *indexCache) put(sum string, ix *layout.Index) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]*list.Element{}
	}
	if e, ok := c.m[sum]; ok {
		c.lru.MoveToFront(e)
		return
	}
	c.m[sum] = c.lru.PushFront(indexEntry{sum, ix})
	for c.lru.Len() > indexCacheSize {
		old := c.lru.Back()
		c.lru.Remove(old)
		delete(c.m, old.Value.(indexEntry).sum)
	}
}
