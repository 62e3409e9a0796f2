// Package proxy lets pip and npm install from a Hallmark repository through
// TUF verification. It runs on the downloader's machine (or in CI) with the
// user's pinned trust and serves, for that one repository:
//
//   - a PEP 503 simple index and its PEP 691 JSON form at /pypi/simple/;
//   - npm registry package documents at /npm/;
//   - the files both point to, at /files/.
//
// Trust rule: every page is built only from metadata the client package
// verified against the pinned root keys (the same path as `hallmark get`),
// and every file is downloaded and checked against its signed length and
// sha256 before a single byte of it is sent. A file or page that fails
// verification is answered with an HTTP error whose reason and body say why,
// so pip and npm fail with that message and install nothing.
//
// Which files are listed is decided from their names: wheels and sdists
// (per the packaging specifications) whose distribution name normalizes to
// the project's name for pip; .tgz files whose package.json (read from the
// verified bytes) names the project and the release's version for npm.
package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"hallmark.dev/hallmark/client"
	"hallmark.dev/hallmark/layout"
)

// Options configure a proxy Server.
type Options struct {
	// Client reads the pinned repository; it holds the verified metadata cache.
	Client *client.Client
	// CacheDir holds verified files, named by their sha256.
	CacheDir string
	// Log receives one line per verified download and per refusal.
	Log *slog.Logger
}

// Server serves pip's and npm's views of one verified repository.
type Server struct {
	client *client.Client
	cache  string
	log    *slog.Logger

	// refreshMu serializes metadata refreshes: go-tuf's updaters of one
	// shard share its metadata directory on disk.
	refreshMu sync.Mutex
	// fetchMu serializes downloads into the file cache, one file at a time
	// per hash, so concurrent requests for one file download it once.
	fetchMu sync.Map // sha256 -> *sync.Mutex
	// npmMu guards npmInfo, what was read from verified tarballs, by sha256.
	npmMu   sync.Mutex
	npmInfo map[string]tarballInfo
}

// New returns a proxy Server.
func New(o Options) (*Server, error) {
	if o.Client == nil {
		return nil, errors.New("proxy: no client")
	}
	if o.CacheDir == "" {
		return nil, errors.New("proxy: no cache directory")
	}
	if err := os.MkdirAll(o.CacheDir, 0o700); err != nil {
		return nil, fmt.Errorf("failed to create the proxy cache %s: %w", o.CacheDir, err)
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	return &Server{client: o.Client, cache: o.CacheDir, log: o.Log, npmInfo: map[string]tarballInfo{}}, nil
}

// Handler returns the proxy's routes.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.home)
	mux.HandleFunc("GET /pypi/simple/{$}", s.pypiProjects)
	mux.HandleFunc("GET /pypi/simple/{project}/{$}", s.pypiProject)
	mux.HandleFunc("GET /pypi/simple/{project}", s.pypiRedirect)
	mux.HandleFunc("GET /npm/{project}", s.npmPackage)
	mux.HandleFunc("GET /files/{project}/{version}/{file}", s.file)
	return mux
}

func (s *Server) home(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, "Hallmark proxy for %s: every page and file is verified with TUF against your pinned trust.\n"+
		"pip:  pip install --index-url http://HOST/pypi/simple/ NAME\n"+
		"npm:  npm install --registry http://HOST/npm/ NAME\n", s.client.Repo())
}

// project returns the project's verified state, refreshing its shard.
func (s *Server) project(ctx context.Context, name string) (*client.Project, error) {
	s.refreshMu.Lock()
	defer s.refreshMu.Unlock()
	return s.client.Project(ctx, name)
}

// projects returns the names of every project in the verified bins of
// every shard, sorted, blocked ones left out.
func (s *Server) projects(ctx context.Context) ([]string, error) {
	s.refreshMu.Lock()
	defer s.refreshMu.Unlock()
	seen := map[string]bool{}
	for _, shard := range layout.ShardIDs(s.client.Trust().Shards) {
		st, err := s.client.Shard(ctx, shard)
		if err != nil {
			return nil, err
		}
		for _, name := range projectsOf(st) {
			seen[name] = true
		}
	}
	return sortedKeys(seen), nil
}

// Serve answers requests on ln until ctx ends, then shuts down gracefully.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second,
		BaseContext: func(net.Listener) context.Context { return ctx }}
	done := make(chan error, 1)
	go func() { done <- hs.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := hs.Shutdown(shutdown); err != nil {
		return err
	}
	if err := <-done; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
