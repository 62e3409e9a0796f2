// Package server is Hallmark's HTTP server: the write API that takes signed
// changes, static serving of published metadata and targets, health and
// metrics, and the start page. It trusts nothing a request says that is not
// signed: every write goes through the publisher, which validates it against
// the published state.
package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"hallmark.dev/hallmark/layout"
	"hallmark.dev/hallmark/publish"
	"hallmark.dev/hallmark/store"
)

// Config holds the server's dependencies.
type Config struct {
	State     store.State
	Blobs     store.Blobs
	Publisher *publish.Publisher
	Shards    int
	// StagingDir holds uploads while they are checked.
	StagingDir string
	// MaxUpload bounds one write request's body, in bytes.
	MaxUpload int64
	Log       *slog.Logger
	Now       func() time.Time
	Policy    layout.Policy
	// Dev marks a development repository (shown on the start page).
	Dev bool
	// PendingTTL is how long a pending change waits for signatures.
	PendingTTL time.Duration
	// Web, when set, registers the web UI's routes, its start page included.
	Web interface{ Register(*http.ServeMux) }
	// RegistrationTokens are accepted when the settings require a token
	// to create a project.
	RegistrationTokens []string
	// CreateRate bounds project creations per client address per minute
	// (0: no limit).
	CreateRate int
	// SharedState says other replicas publish into the same state store:
	// the signed settings that decide whether a project may be created
	// (registration, allowed look-alike names) are then read from it at
	// each creation, not only every RefreshEvery, so a change the admins
	// published through another replica applies to the next request.
	SharedState bool
	// AfterCeremony runs after a ceremony published in every shard (the
	// server finishes an online key rotation there), and with replicas
	// every second (RunRefresh), since a ceremony may come through
	// another replica; it must be cheap when there is nothing to do.
	AfterCeremony func(context.Context)
	// Limits bounds connections, requests in flight and slow clients;
	// zero fields take DefaultLimits.
	Limits Limits
	// MetricSources add their series to /metrics (see MetricSource).
	MetricSources []MetricSource
	// FileRecheck bounds how long a published file held in memory is
	// served without checking the file on disk, when the kernel reports
	// changes to its directory (inotify): every change it reports drops
	// the copy at once, and this check catches the ones it does not (a
	// write from another machine over NFS, a write through mmap). Zero
	// means DefaultFileRecheck; negative checks on every request.
	FileRecheck time.Duration
}

// DefaultFileRecheck is the default Config.FileRecheck.
const DefaultFileRecheck = time.Second

// Server serves one repository.
type Server struct {
	cfg        Config
	handler    http.Handler
	started    time.Time
	blocked    blockedSet
	creates    limiter
	ceremonies chan struct{}
	files      fileCache
	local      *notifyingBlobs // the blob store, when its blobs are local files: served from memory
	stagedMem  atomic.Int64    // bytes of uploads staged in memory
	inflight   inFlight
	metrics    *metrics
	set        struct {
		mu sync.RWMutex
		v  layout.Settings
	}
	health struct {
		mu  sync.Mutex
		at  time.Time
		ok  bool
		msg string
	}
}

// DefaultMaxUpload is the default bound on one write request (1 GiB).
const DefaultMaxUpload = 1 << 30

// New returns a server.
func New(cfg Config) (*Server, error) {
	if cfg.MaxUpload <= 0 {
		cfg.MaxUpload = DefaultMaxUpload
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.PendingTTL <= 0 {
		cfg.PendingTTL = DefaultPendingTTL
	}
	if err := os.MkdirAll(cfg.StagingDir, 0o700); err != nil {
		return nil, fmt.Errorf("failed to create staging directory: %w", err)
	}
	if cfg.Policy == (layout.Policy{}) {
		cfg.Policy = layout.DefaultPolicy()
	}
	cfg.Limits = cfg.Limits.withDefaults()
	switch {
	case cfg.FileRecheck == 0:
		cfg.FileRecheck = DefaultFileRecheck
	case cfg.FileRecheck < 0:
		cfg.FileRecheck = 0
	}
	s := &Server{cfg: cfg, started: cfg.Now(), ceremonies: make(chan struct{}, 1)}
	s.metrics = newMetrics(s)
	if n, ok := cfg.Blobs.(*notifyingBlobs); ok {
		n.onChange(s.files.changed)
		if n.root != "" {
			s.local = n
		}
	}
	s.refreshBlocked(context.Background())
	s.loadSettings(context.Background())
	s.handler = s.routes()
	return s, nil
}

// routes registers every route in one place, so the whole surface is
// visible at a glance.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	if s.cfg.Web != nil {
		s.cfg.Web.Register(mux)
	} else {
		mux.HandleFunc("GET /{$}", s.handleHome)
	}
	mux.HandleFunc("GET /healthz", s.handleHealth)
	mux.HandleFunc("GET /metrics", s.handleMetrics)
	mux.HandleFunc("GET /metadata/", s.handleStatic)
	mux.HandleFunc("GET /targets/", s.handleStatic)
	mux.HandleFunc("POST /api/v1/projects", s.handleCreate)
	mux.HandleFunc("POST /api/v1/projects/{project}/changes", s.handleChange)
	mux.HandleFunc("GET /api/v1/projects/{project}", s.handleProject)
	mux.HandleFunc("GET /api/v1/projects/{project}/pending", s.handleListPending)
	mux.HandleFunc("GET /api/v1/pending", s.handleListPending)
	mux.HandleFunc("POST /api/v1/projects/{project}/pending/{id}/signatures", s.handleSign)
	mux.HandleFunc("GET /api/v1/projects/{project}/pending/{id}/files/{sha256}", s.handlePendingFile)
	mux.HandleFunc("POST /api/v1/admin/ceremonies", s.handleCeremony)
	mux.HandleFunc("GET /api/v1/admin/status", s.handleAdminStatus)
	return mux
}

// ServeHTTP implements http.Handler. Published files held in memory are
// answered first, without the router and the request log (which logs
// only writes and errors): they are most of the traffic.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rw := s.metrics.start(w)
	defer s.metrics.done(rw, r)
	release, ok := s.limitRequest(rw, r)
	if !ok {
		return
	}
	defer release()
	if (r.Method == http.MethodGet || r.Method == http.MethodHead) && s.serveFromMemory(rw, r) {
		return
	}
	s.handler.ServeHTTP(rw, r)
	if r.Method != http.MethodGet || rw.status >= 400 {
		s.cfg.Log.Info("request", "method", r.Method, "path", r.URL.Path, "status", rw.code(), "duration", time.Since(rw.start))
	}
}

// serveFromMemory answers a request for a published file that the file
// cache holds, if it may; it reports whether it answered. Only paths that
// handleStatic served before are in the cache.
func (s *Server) serveFromMemory(w *recorder, r *http.Request) bool {
	p := r.URL.Path
	if !strings.HasPrefix(p, "/metadata/") && !strings.HasPrefix(p, "/targets/") {
		return false
	}
	path := p[1:]
	c, ok := s.files.get(path)
	if !ok {
		return false
	}
	if c.project != "" {
		if _, blocked := s.blocked.get(c.project); blocked {
			return false // handleStatic answers 410
		}
	}
	if !s.fresh(path, c, w.start) {
		return false // handleStatic answers, and drops a stale copy
	}
	s.serveCached(w, r, c)
	return true
}

// handleStatic serves published metadata and target files from the blob
// store. Versioned files never change, so caches may keep them forever;
// timestamp.json and trust.json must be revalidated.
func (s *Server) handleStatic(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimPrefix(r.URL.Path, "/")
	if strings.Contains(path, "..") || strings.HasSuffix(path, "/") || strings.Contains(path, "/.") {
		http.NotFound(w, r)
		return
	}
	if project, reason, blocked := s.blockedNow(r.Context(), path); blocked {
		http.Error(w, fmt.Sprintf("project %s is blocked by the repository's admins: %s", project, reason), http.StatusGone)
		return
	}
	if s.local == nil {
		// Blobs elsewhere (a bucket) are not held in memory: nothing
		// here could tell a rewrite apart cheaply and exactly.
		s.serveBlob(w, r, path)
		return
	}
	now := time.Now()
	if c, ok := s.files.get(path); ok {
		if s.fresh(path, c, now) {
			s.serveCached(w, r, c)
			return
		}
		s.files.drop(path)
	}
	// Watch before reading, so that any change after the read is heard of.
	watching := s.local.watch(path)
	gen := s.files.generation()
	b, ok := s.openBlob(w, r, path)
	if !ok {
		return
	}
	defer b.Close()
	if b.Size() <= maxCachedFile {
		if c, ok := s.readCached(path, b, now); ok {
			s.files.put(path, c, gen, watching)
			s.serveCached(w, r, c)
			return
		}
		if _, err := b.Seek(0, io.SeekStart); err != nil {
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
	}
	s.sendBlob(w, r, path, b)
}

// readCached reads a small opened blob into a copy to hold in memory.
func (s *Server) readCached(path string, b store.Blob, opened time.Time) (*cachedFile, bool) {
	f, ok := b.(interface{ Stat() (os.FileInfo, error) })
	if !ok {
		return nil, false
	}
	info, err := f.Stat()
	if err != nil {
		return nil, false
	}
	id, ok := openedID(info)
	if !ok {
		return nil, false
	}
	data, err := io.ReadAll(io.LimitReader(b, maxCachedFile+1))
	if err != nil || int64(len(data)) != b.Size() || int64(len(data)) != info.Size() {
		return nil, false
	}
	c := newCachedFile(path, data, b.ModTime())
	c.project, _, _ = s.blockedPath(path)
	c.name, c.id, c.watched = s.local.localName(path), id, true
	c.checked.Store(opened.UnixNano())
	return c, true
}

// serveBlob answers with a blob read from the store.
func (s *Server) serveBlob(w http.ResponseWriter, r *http.Request, path string) {
	b, ok := s.openBlob(w, r, path)
	if !ok {
		return
	}
	defer b.Close()
	s.sendBlob(w, r, path, b)
}

func (s *Server) openBlob(w http.ResponseWriter, r *http.Request, path string) (store.Blob, bool) {
	b, err := s.cfg.Blobs.Open(r.Context(), path)
	if errors.Is(err, store.ErrNotFound) {
		http.NotFound(w, r)
		return nil, false
	}
	if err != nil && r.Context().Err() != nil {
		// The client left while the blob was being read (from a bucket):
		// nothing failed, and nobody is left to answer.
		return nil, false
	}
	if err != nil {
		s.cfg.Log.Error("failed to open blob", "path", path, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return nil, false
	}
	return b, true
}

// sendBlob answers with an opened blob. http.ServeContent hands a local
// file to the connection's ReadFrom, which sends it with sendfile: every
// writer between here and the connection passes ReadFrom on.
func (s *Server) sendBlob(w http.ResponseWriter, r *http.Request, path string, b store.Blob) {
	cacheControl, contentType := layout.ServedHeaders(path)
	w.Header().Set("Cache-Control", cacheControl)
	w.Header().Set("Content-Type", contentType)
	http.ServeContent(w, r, "", b.ModTime(), b)
}

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	if err := s.cfg.State.Ping(ctx); err != nil {
		s.metrics.storeError("state", "ping")
		http.Error(w, "store unavailable: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	ok, msg := s.cachedHealth(ctx)
	if !ok {
		http.Error(w, msg, http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, "ok\n%s\n", msg)
}

// cachedHealth is onlineHealth, computed at most every few seconds: it
// reads every shard's online roles.
func (s *Server) cachedHealth(ctx context.Context) (bool, string) {
	s.health.mu.Lock()
	defer s.health.mu.Unlock()
	now := s.cfg.Now()
	if !s.health.at.IsZero() && now.Sub(s.health.at) < 5*time.Second && now.After(s.health.at) {
		return s.health.ok, s.health.msg
	}
	s.health.ok, s.health.msg = s.onlineHealth(ctx)
	s.health.at = now
	return s.health.ok, s.health.msg
}
