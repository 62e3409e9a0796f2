package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"hallmark.dev/hallmark/layout"
	"hallmark.dev/hallmark/store"
)

// maxCachedFile and maxCachedBytes bound the in-memory copies of published
// files (metadata and small target files) the server keeps to answer the
// most frequent requests without touching the disk.
const (
	maxCachedFile  = 64 << 10
	maxCachedBytes = 64 << 20
)

// cachedFile is a published file held in memory, with its response
// headers formatted once.
type cachedFile struct {
	data   []byte
	mod    time.Time
	header map[string][]string
}

func newCachedFile(path string, data []byte, mod time.Time) cachedFile {
	sum := sha256.Sum256(data)
	cacheControl, contentType := layout.ServedHeaders(path)
	return cachedFile{data: data, mod: mod, header: map[string][]string{
		"Cache-Control":  {cacheControl},
		"Content-Type":   {contentType},
		"Content-Length": {strconv.Itoa(len(data))},
		"Last-Modified":  {mod.UTC().Format(http.TimeFormat)},
		"Etag":           {`"` + hex.EncodeToString(sum[:16]) + `"`},
	}}
}

// fileCache holds small published files. Every write or delete of a blob
// drops its copy (through notifyingBlobs) and bumps the generation, and a
// copy read before a write is never stored after it: a removed target file
// stops being served at once.
type fileCache struct {
	mu    sync.RWMutex
	m     map[string]cachedFile
	bytes int
	gen   uint64
}

// generation returns the cache's write generation.
func (c *fileCache) generation() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.gen
}

// drop forgets a path's copy after its blob changed.
func (c *fileCache) drop(path string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	if f, ok := c.m[path]; ok {
		c.bytes -= len(f.data)
		delete(c.m, path)
	}
}

func (c *fileCache) get(path string) (cachedFile, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	f, ok := c.m[path]
	return f, ok
}

func (c *fileCache) put(path string, f cachedFile, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return // a blob was written since this copy was read
	}
	if c.m == nil || c.bytes+len(f.data) > maxCachedBytes {
		c.m, c.bytes = map[string]cachedFile{}, 0 // start over: simple and bounded
	}
	c.m[path] = f
	c.bytes += len(f.data)
}

// notifyingBlobs tells the server's file cache about every blob write and
// delete, so what it serves from memory is never stale.
type notifyingBlobs struct {
	store.Blobs
	mu    sync.RWMutex
	hooks []func(path string)
}

// OnChange registers a function called after each Put or Delete.
func (n *notifyingBlobs) OnChange(f func(path string)) {
	n.mu.Lock()
	n.hooks = append(n.hooks, f)
	n.mu.Unlock()
}

func (n *notifyingBlobs) changed(path string) {
	n.mu.RLock()
	defer n.mu.RUnlock()
	for _, f := range n.hooks {
		f(path)
	}
}

// Put implements store.Blobs.
func (n *notifyingBlobs) Put(ctx context.Context, path string, r io.Reader) error {
	err := n.Blobs.Put(ctx, path, r)
	n.changed(path)
	return err
}

// Delete implements store.Blobs.
func (n *notifyingBlobs) Delete(ctx context.Context, path string) error {
	err := n.Blobs.Delete(ctx, path)
	n.changed(path)
	return err
}

// serveCached answers from memory: the whole file (a versioned file never
// changes, so Range requests get it all), or 304 to a revalidation.
func (s *Server) serveCached(w http.ResponseWriter, r *http.Request, c cachedFile) {
	h := w.Header()
	for k, v := range c.header {
		if k != "Content-Length" {
			h[k] = v
		}
	}
	etag := c.header["Etag"][0]
	if inm := r.Header.Get("If-None-Match"); inm != "" && strings.Contains(inm, etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	if ims := r.Header.Get("If-Modified-Since"); ims != "" && r.Header.Get("If-None-Match") == "" {
		if t, err := http.ParseTime(ims); err == nil && !c.mod.Truncate(time.Second).After(t) {
			w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	h["Content-Length"] = c.header["Content-Length"]
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(c.data)
	}
}

// statter is implemented by blob stores that can tell a blob's size and
// modification time cheaply (a local directory).
type statter interface {
	Stat(ctx context.Context, path string) (int64, time.Time, error)
}

// Stat passes through to the wrapped store, if it can.
func (n *notifyingBlobs) Stat(ctx context.Context, path string) (int64, time.Time, error) {
	if s, ok := n.Blobs.(statter); ok {
		return s.Stat(ctx, path)
	}
	return 0, time.Time{}, errors.New("cannot stat")
}

// fresh reports whether a cached copy still matches the stored blob. The
// server's own writes drop copies at once; a blob changed behind the
// server's back (an attacker with access to the storage, then the
// operator's restore from backup) is served as stored, not from memory.
// Skipping this stat for names that never legitimately change would serve
// about 10% more requests a second, but would keep serving tampered bytes
// after the restore, until a restart.
func (s *Server) fresh(ctx context.Context, path string, c cachedFile) bool {
	st, ok := s.cfg.Blobs.(statter)
	if !ok {
		return true
	}
	size, mod, err := st.Stat(ctx, path)
	return err == nil && size == int64(len(c.data)) && mod.Equal(c.mod)
}
