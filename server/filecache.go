package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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
	data    []byte
	mod     time.Time
	header  map[string][]string
	etag    string
	project string // whose file it is ("" none): refused while the project is blocked
	name    string // the file on disk
	id      fileID // the file as it was read
	watched bool   // its directories were watched before it was read
	checked atomic.Int64
}

func newCachedFile(path string, data []byte, mod time.Time) *cachedFile {
	sum := sha256.Sum256(data)
	cacheControl, contentType := layout.ServedHeaders(path)
	etag := `"` + hex.EncodeToString(sum[:16]) + `"`
	return &cachedFile{data: data, mod: mod, etag: etag, header: map[string][]string{
		"Cache-Control":  {cacheControl},
		"Content-Type":   {contentType},
		"Content-Length": {strconv.Itoa(len(data))},
		"Last-Modified":  {mod.UTC().Format(http.TimeFormat)},
		"Etag":           {etag},
	}}
}

// fileCache holds small published files. Every write or delete of a blob
// through the server's own store drops its copy (through notifyingBlobs)
// and bumps the generation, and so does every change the directory
// watcher hears of; a copy read before a change is never stored after
// it.
type fileCache struct {
	mu    sync.RWMutex
	m     map[string]*cachedFile
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
func (c *fileCache) drop(path string) { c.changed(path, false) }

// changed forgets the copy of path, or with tree set the copies of every
// path below the directory path ("": all of them).
func (c *fileCache) changed(path string, tree bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	if !tree {
		if f, ok := c.m[path]; ok {
			c.bytes -= len(f.data)
			delete(c.m, path)
		}
		return
	}
	for p, f := range c.m {
		if path == "" || p == path || strings.HasPrefix(p, path+"/") {
			c.bytes -= len(f.data)
			delete(c.m, p)
		}
	}
}

func (c *fileCache) get(path string) (*cachedFile, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	f, ok := c.m[path]
	return f, ok
}

// put stores a copy read at generation gen, unless anything changed
// since. watching reports, under the cache's lock, whether the copy's
// directories are still watched as they were before it was read.
func (c *fileCache) put(path string, f *cachedFile, gen uint64, watching func() bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return // a blob was written since this copy was read
	}
	f.watched = f.watched && watching()
	if c.m == nil || c.bytes+len(f.data) > maxCachedBytes {
		c.m, c.bytes = map[string]*cachedFile{}, 0 // start over: simple and bounded
	}
	c.m[path] = f
	c.bytes += len(f.data)
}

// notifyingBlobs tells the server's file cache about every blob write and
// delete, so what it serves from memory is never stale; for a local blob
// directory it also watches for changes made by other processes.
type notifyingBlobs struct {
	store.Blobs
	// root is the blob directory when the blobs are local files (only
	// those are served from memory), "" otherwise.
	root    string
	mu      sync.RWMutex
	hooks   []func(path string, tree bool)
	onError func(op string)
	watcher *dirWatcher // started by the first watch
	stopped bool
}

// newNotifyingBlobs wraps a blob store.
func newNotifyingBlobs(b store.Blobs) *notifyingBlobs {
	n := &notifyingBlobs{Blobs: b}
	if d, ok := b.(interface{ Root() string }); ok {
		n.root = d.Root()
	}
	return n
}

// OnError registers a function called after each failed operation (a
// missing blob is no failure, nor an operation its caller cancelled), with
// the operation's name.
func (n *notifyingBlobs) OnError(f func(op string)) {
	n.mu.Lock()
	n.onError = f
	n.mu.Unlock()
}

func (n *notifyingBlobs) failed(op string, err error) {
	if err == nil || errors.Is(err, store.ErrNotFound) || errors.Is(err, context.Canceled) {
		return
	}
	n.mu.RLock()
	f := n.onError
	n.mu.RUnlock()
	if f != nil {
		f(op)
	}
}

// Open implements store.Blobs.
func (n *notifyingBlobs) Open(ctx context.Context, path string) (store.Blob, error) {
	b, err := n.Blobs.Open(ctx, path)
	n.failed("open", err)
	return b, err
}

// Exists implements store.Blobs.
func (n *notifyingBlobs) Exists(ctx context.Context, path string) (bool, error) {
	ok, err := n.Blobs.Exists(ctx, path)
	n.failed("exists", err)
	return ok, err
}

// onChange registers a function called after each Put or Delete, and
// after each change the watcher hears of (with tree set for a directory:
// everything below it may have changed; "" is everything).
func (n *notifyingBlobs) onChange(f func(path string, tree bool)) {
	n.mu.Lock()
	n.hooks = append(n.hooks, f)
	n.mu.Unlock()
}

func (n *notifyingBlobs) changed(path string, tree bool) {
	n.mu.RLock()
	defer n.mu.RUnlock()
	for _, f := range n.hooks {
		f(path, tree)
	}
}

// Put implements store.Blobs.
func (n *notifyingBlobs) Put(ctx context.Context, path string, r io.Reader) error {
	err := n.Blobs.Put(ctx, path, r)
	n.failed("put", err)
	n.changed(path, false)
	return err
}

// Delete implements store.Blobs.
func (n *notifyingBlobs) Delete(ctx context.Context, path string) error {
	err := n.Blobs.Delete(ctx, path)
	n.failed("delete", err)
	n.changed(path, false)
	return err
}

// watch makes sure changes to path by other processes are heard of (see
// dirWatcher); valid, called once the file has been read, reports whether
// they all were since.
func (n *notifyingBlobs) watch(path string) (valid func() bool) {
	n.mu.Lock()
	if n.watcher == nil && !n.stopped {
		w, err := newDirWatcher(n.root, n.changed)
		if err != nil {
			n.stopped = true // no watching: copies are checked on every request
		}
		n.watcher = w
	}
	w := n.watcher
	n.mu.Unlock()
	if w == nil {
		return func() bool { return false }
	}
	epoch, ok := w.watch(path)
	return func() bool { return ok && w.valid(epoch) }
}

// sync acts on every change the kernel reported so far (see
// dirWatcher.sync).
func (n *notifyingBlobs) sync() {
	n.mu.RLock()
	w := n.watcher
	n.mu.RUnlock()
	if w != nil {
		w.sync()
	}
}

// close stops watching.
func (n *notifyingBlobs) close() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.watcher != nil {
		n.watcher.close()
	}
	n.watcher, n.stopped = nil, true
}

// localName returns the file that holds a blob.
func (n *notifyingBlobs) localName(path string) string {
	return filepath.Join(n.root, filepath.FromSlash(path))
}

// serveCached answers from memory: the whole file (a versioned file never
// changes, so Range requests get it all), or 304 to a revalidation.
func (s *Server) serveCached(w http.ResponseWriter, r *http.Request, c *cachedFile) {
	h := w.Header()
	for k, v := range c.header {
		if k != "Content-Length" {
			h[k] = v
		}
	}
	inm := r.Header["If-None-Match"]
	if len(inm) > 0 && strings.Contains(inm[0], c.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	if ims := r.Header["If-Modified-Since"]; len(ims) > 0 && len(inm) == 0 {
		if t, err := http.ParseTime(ims[0]); err == nil && !c.mod.Truncate(time.Second).After(t) {
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

// fresh reports whether a cached copy may be served at time now. The
// server's own writes drop copies at once, and so does every change to a
// watched directory the kernel reported before the request (each request
// acts on the kernel's queued reports first); a copy whose directories are
// watched is also checked with a stat once every Config.FileRecheck, which
// bounds how long a change the kernel does not report (another machine
// writing over NFS, a write through mmap) can go unseen. A copy that is
// not watched is checked on every request. The check compares the file's
// identity, size and modification and change times: a file replaced
// behind the server's back (an attacker with access to the storage, then
// the operator's restore from backup) is served as stored.
func (s *Server) fresh(path string, c *cachedFile, now time.Time) bool {
	t := now.UnixNano()
	if c.watched {
		// Act on what the kernel reported before this request first: the
		// copy is then still cached only if nothing changed its file.
		s.local.sync()
		if cur, ok := s.files.get(path); !ok || cur != c {
			return false
		}
		if t-c.checked.Load() < int64(s.cfg.FileRecheck) {
			return true
		}
	}
	id, err := statID(c.name)
	if err != nil || id != c.id {
		return false
	}
	c.checked.Store(t)
	return true
}
