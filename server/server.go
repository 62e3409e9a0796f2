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
	"hallmark.dev/hallmark/witness"
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
	// AfterCeremony runs after a ceremony published in every shard (the
	// server finishes an online key rotation there).
	AfterCeremony func(context.Context)
}

// Server serves one repository.
type Server struct {
	cfg        Config
	handler    http.Handler
	started    time.Time
	blocked    blockedSet
	creates    limiter
	ceremonies chan struct{}
	files      fileCache
	stagedMem  atomic.Int64 // bytes of uploads staged in memory
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
	s := &Server{cfg: cfg, started: cfg.Now(), ceremonies: make(chan struct{}, 1)}
	if n, ok := cfg.Blobs.(interface{ OnChange(func(string)) }); ok {
		n.OnChange(s.files.drop)
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
	return s.logRequests(mux)
}

// ServeHTTP implements http.Handler. Published files held in memory are
// answered first, without the router and the request log (which logs
// only writes and errors): they are most of the traffic.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if (r.Method == http.MethodGet || r.Method == http.MethodHead) && s.serveFromMemory(w, r) {
		return
	}
	s.handler.ServeHTTP(w, r)
}

// serveFromMemory answers a request for a published file that the file
// cache holds, if it may; it reports whether it answered. Only paths that
// handleStatic served before are in the cache.
func (s *Server) serveFromMemory(w http.ResponseWriter, r *http.Request) bool {
	p := r.URL.Path
	if !strings.HasPrefix(p, "/metadata/") && !strings.HasPrefix(p, "/targets/") {
		return false
	}
	path := p[1:]
	c, ok := s.files.get(path)
	if !ok {
		return false
	}
	if _, _, blocked := s.blockedPath(path); blocked || !s.fresh(r.Context(), path, c) {
		return false // handleStatic answers, and drops a stale copy
	}
	s.serveCached(w, r, c)
	return true
}

func (s *Server) logRequests(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rw := &statusWriter{ResponseWriter: w, status: 200}
		start := time.Now()
		h.ServeHTTP(rw, r)
		if r.Method != http.MethodGet || rw.status >= 400 {
			s.cfg.Log.Info("request", "method", r.Method, "path", r.URL.Path, "status", rw.status, "duration", time.Since(start))
		}
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
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
	if project, reason, blocked := s.blockedPath(path); blocked {
		http.Error(w, fmt.Sprintf("project %s is blocked by the repository's admins: %s", project, reason), http.StatusGone)
		return
	}
	if c, ok := s.files.get(path); ok {
		if s.fresh(r.Context(), path, c) {
			s.serveCached(w, r, c)
			return
		}
		s.files.drop(path)
	}
	gen := s.files.generation()
	b, err := s.cfg.Blobs.Open(r.Context(), path)
	if errors.Is(err, store.ErrNotFound) {
		http.NotFound(w, r)
		return
	}
	if err != nil {
		s.cfg.Log.Error("failed to open blob", "path", path, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	defer b.Close()
	if b.Size() <= maxCachedFile {
		data, err := io.ReadAll(io.LimitReader(b, maxCachedFile+1))
		if err == nil && int64(len(data)) == b.Size() {
			c := newCachedFile(path, data, b.ModTime())
			s.files.put(path, c, gen)
			s.serveCached(w, r, c)
			return
		}
		if _, err := b.Seek(0, io.SeekStart); err != nil {
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
	}
	cacheControl, contentType := layout.ServedHeaders(path)
	w.Header().Set("Cache-Control", cacheControl)
	w.Header().Set("Content-Type", contentType)
	http.ServeContent(w, r, "", b.ModTime(), b)
}

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	if err := s.cfg.State.Ping(ctx); err != nil {
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

func (s *Server) handleMetrics(w http.ResponseWriter, r *http.Request) {
	batches, published, rejected, renewals, lastRenewal, _, lastErrTime := s.cfg.Publisher.Snapshot()
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	fmt.Fprintf(w, "# HELP hallmark_publish_batches_total Batches published.\n# TYPE hallmark_publish_batches_total counter\nhallmark_publish_batches_total %d\n", batches)
	fmt.Fprintf(w, "# HELP hallmark_changes_published_total Changes accepted and published.\n# TYPE hallmark_changes_published_total counter\nhallmark_changes_published_total %d\n", published)
	fmt.Fprintf(w, "# HELP hallmark_changes_rejected_total Changes rejected.\n# TYPE hallmark_changes_rejected_total counter\nhallmark_changes_rejected_total %d\n", rejected)
	fmt.Fprintf(w, "# HELP hallmark_renewals_total Online metadata renewals.\n# TYPE hallmark_renewals_total counter\nhallmark_renewals_total %d\n", renewals)
	var last int64
	if !lastRenewal.IsZero() {
		last = lastRenewal.Unix()
	}
	fmt.Fprintf(w, "# HELP hallmark_last_renewal_timestamp_seconds When online metadata was last renewed.\n# TYPE hallmark_last_renewal_timestamp_seconds gauge\nhallmark_last_renewal_timestamp_seconds %d\n", last)
	var errAt int64
	if !lastErrTime.IsZero() {
		errAt = lastErrTime.Unix()
	}
	fmt.Fprintf(w, "# HELP hallmark_last_publish_error_timestamp_seconds When publishing or renewal last failed (0: never).\n# TYPE hallmark_last_publish_error_timestamp_seconds gauge\nhallmark_last_publish_error_timestamp_seconds %d\n", errAt)
	fmt.Fprintf(w, "# HELP hallmark_shards_behind Shards whose newest publication is not served yet (waiting for witnesses).\n# TYPE hallmark_shards_behind gauge\nhallmark_shards_behind %d\n", len(s.cfg.Publisher.Behind()))
	ws := s.cfg.Publisher.WitnessHealth()
	if len(ws) == 0 {
		return
	}
	series := []struct {
		name, help, kind string
		value            func(h witness.Health) int64
	}{
		{"hallmark_witness_cosigned_total", "Timestamps a witness co-signed.", "counter", func(h witness.Health) int64 { return h.Cosigned }},
		{"hallmark_witness_refusals_total", "Timestamps a witness refused.", "counter", func(h witness.Health) int64 { return h.Refusals }},
		{"hallmark_witness_failures", "Requests to a witness that failed since its last answer.", "gauge", func(h witness.Health) int64 { return int64(h.Failures) }},
		{"hallmark_witness_last_cosign_timestamp_seconds", "When a witness last co-signed (0: never).", "gauge", func(h witness.Health) int64 {
			if h.LastOK.IsZero() {
				return 0
			}
			return h.LastOK.Unix()
		}},
	}
	for _, m := range series {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", m.name, m.help, m.name, m.kind)
		for _, h := range ws {
			fmt.Fprintf(w, "%s{witness=%q} %d\n", m.name, h.Name, m.value(h))
		}
	}
}
