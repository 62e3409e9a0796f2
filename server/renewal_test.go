package server

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata/config"
	"github.com/theupdateframework/go-tuf/v2/metadata/fetcher"
	"github.com/theupdateframework/go-tuf/v2/metadata/updater"
)

// clock is a controllable clock for simulated time.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// refreshAt refreshes a shard with go-tuf's own updater as of simulated time
// now, from its cached trusted metadata, and returns the error if any.
func refreshAt(t *testing.T, url, shard string, root []byte, dir string, now time.Time) error {
	t.Helper()
	cfg, err := config.New(url+"/metadata/"+shard+"/", root)
	if err != nil {
		t.Fatal(err)
	}
	cfg.LocalMetadataDir = filepath.Join(dir, shard)
	cfg.LocalTargetsDir = filepath.Join(dir, shard+"-targets")
	cfg.RemoteTargetsURL = url + "/targets/"
	cfg.Fetcher = fetcher.NewDefaultFetcher()
	if err := cfg.EnsurePathsExist(); err != nil {
		t.Fatal(err)
	}
	up, err := updater.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	up.UnsafeSetRefTime(now)
	return up.Refresh()
}

// TestOnlineMetadataStaysFreshForWeeks runs six weeks of simulated time in
// steps of the renewal interval. The server renews timestamp, snapshot and
// the new-projects bin (and, for a development repository, its offline
// metadata) on its own; a go-tuf client checking every simulated day always
// finds valid metadata; /healthz and /metrics say so. Then renewal stops and
// /healthz reports it within a day.
func TestOnlineMetadataStaysFreshForWeeks(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	clk := &clock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	repo, err := OpenRepo(ctx, t.TempDir(), OpenOptions{Dev: true, Shards: 1, Log: log, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer repo.Close()
	srv, err := New(Config{State: repo.State, Blobs: repo.Blobs, Publisher: repo.Publisher, Shards: 1,
		StagingDir: filepath.Join(t.TempDir(), "staging"), Log: log, Now: clk.Now, Dev: true})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	defer hs.Close()

	rootOf := func(shard string) []byte {
		b, err := repo.State.RoleVersion(ctx, shard, "root", 1)
		if err != nil {
			t.Fatal(err)
		}
		return b.Data
	}
	shards := []string{"0"}
	roots := map[string][]byte{}
	for _, s := range shards {
		roots[s] = rootOf(s)
	}
	cache := t.TempDir()
	get := func(path string) (int, string) {
		resp, err := http.Get(hs.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	const step = time.Hour // coarser than --renew-every's 10 minutes, well inside every signing period
	start := clk.Now()
	for day := 1; day <= 42; day++ {
		for i := 0; i < int(24*time.Hour/step); i++ {
			clk.Advance(step)
			if _, err := repo.Publisher.RenewAll(ctx); err != nil {
				t.Fatalf("day %d: renewal failed: %v", day, err)
			}
			if _, err := repo.RenewDevOffline(ctx, srv.cfg.Policy, clk.Now()); err != nil {
				t.Fatalf("day %d: offline renewal failed: %v", day, err)
			}
		}
		for _, s := range shards {
			if err := refreshAt(t, hs.URL, s, roots[s], cache, clk.Now()); err != nil {
				t.Fatalf("day %d (%s): go-tuf refused shard %s: %v", day, clk.Now().Format(time.DateTime), s, err)
			}
		}
		if code, body := get("/healthz"); code != 200 {
			t.Fatalf("day %d: /healthz = %d: %s", day, code, body)
		}
		if _, body := get("/api/v1/admin/status"); !strings.Contains(body, `"healthy":true`) {
			t.Fatalf("day %d: admin status is not healthy: %s", day, body)
		}
	}
	if clk.Now().Sub(start) < 6*7*24*time.Hour {
		t.Fatalf("simulated only %s", clk.Now().Sub(start))
	}
	_, metrics := get("/metrics")
	if !strings.Contains(metrics, "hallmark_renewals_total") || strings.Contains(metrics, "hallmark_renewals_total 0\n") {
		t.Fatalf("/metrics reports no renewals:\n%s", metrics)
	}

	// Renewal stops: within a day /healthz says so, and clients refuse
	// the frozen metadata once it expires.
	clk.Advance(25 * time.Hour)
	if code, body := get("/healthz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "renewal") {
		t.Fatalf("/healthz after renewal stopped = %d: %s", code, body)
	}
	if err := refreshAt(t, hs.URL, "0", roots["0"], cache, clk.Now()); err == nil {
		t.Fatal("go-tuf accepted a timestamp that expired a day ago")
	}
}
