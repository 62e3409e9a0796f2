package witness_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"hallmark.dev/hallmark/layout"
	"hallmark.dev/hallmark/tufmeta"
	. "hallmark.dev/hallmark/witness"
)

// running is a witness service in a temporary directory, behind HTTP.
type running struct {
	dir string
	svc *Service
	srv *httptest.Server
	f   *fixture
}

func startWitness(t *testing.T) *running {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "w")
	if err := Init(dir, "w1"); err != nil {
		t.Fatal(err)
	}
	id, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	r := &running{dir: dir}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) { r.svc.Handler().ServeHTTP(w, req) }))
	t.Cleanup(r.srv.Close)
	keys, err := id.Export(r.srv.URL, 1)
	if err != nil {
		t.Fatal(err)
	}
	key, err := id.Key(shard)
	if err != nil {
		t.Fatal(err)
	}
	r.f = newFixtureWith(t, keys, key)
	tf, _ := json.Marshal(r.f.trust)
	if err := id.Pin(tf); err != nil {
		t.Fatal(err)
	}
	r.open(t)
	return r
}

func (r *running) open(t *testing.T) {
	t.Helper()
	svc, err := Open(context.Background(), r.dir, Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	r.svc = svc
	t.Cleanup(func() { svc.Close() })
}

func (r *running) job(s spec) Job {
	req := r.f.request(s)
	return Job{Shard: shard, Roots: req.Roots, Root: r.f.root, Timestamp: req.Timestamp, Snapshot: req.Snapshot}
}

func TestPoolGetsTimestampsCoSignedAndVerifiable(t *testing.T) {
	w := startWitness(t)
	pool := NewPool(nil, 0)
	full, err := pool.Cosign(context.Background(), w.job(spec{ts: 10, snap: 7, meta: base}))
	if err != nil {
		t.Fatal(err)
	}
	ts, err := tufmeta.Decode[metadata.TimestampType](full)
	if err != nil {
		t.Fatal(err)
	}
	d, _ := tufmeta.RootDelegation(w.f.root, layout.RoleTimestamp)
	if err := tufmeta.Verify(ts, d, "timestamp"); err != nil {
		t.Fatalf("the co-signed timestamp does not meet the root's threshold: %v", err)
	}
	if h := pool.Health(); len(h) != 1 || h[0].Cosigned != 1 || h[0].Failures != 0 {
		t.Errorf("health %+v", h)
	}
	// What the witness says it signed last verifies with its key.
	ws, _ := tufmeta.Witnesses(w.f.root)
	last, err := FetchStatus(context.Background(), http.DefaultClient, ws[0], w.f.root.Signed.Keys[ws[0].KeyID], shard)
	if err != nil || last.Signed.Version != 10 {
		t.Fatalf("status: %v, %+v", err, last)
	}
}

func TestPoolBatchesConcurrentRequests(t *testing.T) {
	w := startWitness(t)
	var mu sync.Mutex
	posts := 0
	inner := w.srv.Config.Handler
	w.srv.Config.Handler = http.HandlerFunc(func(rw http.ResponseWriter, req *http.Request) {
		mu.Lock()
		posts++
		mu.Unlock()
		inner.ServeHTTP(rw, req)
	})
	pool := NewPool(nil, 0)
	// One shard, so the requests are versions of one timestamp: each is
	// either signed or refused as older than one signed in the same batch.
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pool.Cosign(context.Background(), w.job(spec{ts: int64(10 + i), snap: int64(7 + i), meta: base}))
		}()
	}
	wg.Wait()
	if posts >= 40 {
		t.Errorf("%d round trips for 40 concurrent requests: not batched", posts)
	}
	t.Logf("%d round trips for 40 concurrent requests", posts)
}

// A witness restarted (its process killed) keeps refusing what it refused:
// its state is on disk before it answers.
func TestWitnessRemembersAcrossRestarts(t *testing.T) {
	w := startWitness(t)
	pool := NewPool(nil, 0)
	if _, err := pool.Cosign(context.Background(), w.job(spec{ts: 10, snap: 7, meta: base})); err != nil {
		t.Fatal(err)
	}
	rollback := w.job(spec{ts: 11, snap: 8, meta: with(base, "claimed.0.json", 2)})
	_, err := pool.Cosign(context.Background(), rollback)
	var un *Unavailable
	if !errors.As(err, &un) || !strings.Contains(err.Error(), "rollback") {
		t.Fatalf("rollback before the restart: %v", err)
	}
	w.svc.Close()
	w.open(t)
	pool = NewPool(nil, 0) // a new server process too
	if _, err := pool.Cosign(context.Background(), rollback); err == nil || !strings.Contains(err.Error(), "rollback") {
		t.Fatalf("rollback after the restart: %v", err)
	}
	if _, err := pool.Cosign(context.Background(), w.job(spec{ts: 11, snap: 8, meta: base})); err != nil {
		t.Fatalf("honest successor after the restart: %v", err)
	}
}

func TestPoolSaysWhyAWitnessDidNotSign(t *testing.T) {
	w := startWitness(t)
	w.srv.Close()
	_, err := NewPool(nil, 0).Cosign(context.Background(), w.job(spec{ts: 10, snap: 7, meta: base}))
	if err == nil || !strings.Contains(err.Error(), "witness w1") || !strings.Contains(err.Error(), "unreachable") {
		t.Fatalf("witness down: %v", err)
	}
}
