package server

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"hallmark.dev/hallmark/store"
)

// countingState counts the queries for blocked projects made through it,
// and the most of them in flight at once; each takes at least delay (a
// database farther away than this test's).
type countingState struct {
	store.State
	delay                    time.Duration
	blockedQueries, inFlight atomic.Int64
	maxInFlight              atomic.Int64
}

func (c *countingState) ListProjectsWhere(ctx context.Context, f store.ProjectFilter, after string, limit int) ([]store.Project, error) {
	if f.Blocked {
		c.blockedQueries.Add(1)
		n := c.inFlight.Add(1)
		defer c.inFlight.Add(-1)
		for m := c.maxInFlight.Load(); n > m && !c.maxInFlight.CompareAndSwap(m, n); m = c.maxInFlight.Load() {
		}
		time.Sleep(c.delay)
	}
	return c.State.ListProjectsWhere(ctx, f, after, limit)
}

// setBlocked writes project p's blocked state as another replica's
// ceremony would: into the shared database, behind this server's back.
func setBlocked(t *testing.T, st store.State, p string, blocked bool) {
	t.Helper()
	reason := ""
	if blocked {
		reason = "malware"
	}
	err := st.Commit(context.Background(), store.Publication{Shard: "0", Projects: []store.Project{{
		Name: p, Display: p, Shard: "0", Status: "claimed", Created: time.Now().UTC(), Blocked: blocked, BlockReason: reason,
	}}})
	if err != nil {
		t.Fatal(err)
	}
}

// newBlockedServer returns a server, a replica if shared is set, whose
// state (counting its queries for blocked projects) has the project "evil"
// blocked, and which knows it.
func newBlockedServer(t *testing.T, shared bool) (*Server, *countingState) {
	t.Helper()
	var st *countingState
	s := newTestServerWith(t, func(c *Config) {
		st = &countingState{State: c.State}
		c.State, c.SharedState = st, shared
	})
	setBlocked(t, st, "evil", true)
	s.refreshBlocked(context.Background())
	return s, st
}

func getStatus(s *Server, path string) int {
	return getStatusFrom(s, path, "192.0.2.1:1234")
}

// getStatusFrom is getStatus for a client at addr (each client has its own
// request limit).
func getStatusFrom(s *Server, path, addr string) int {
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", path, nil)
	req.RemoteAddr = addr
	s.ServeHTTP(rec, req)
	return rec.Code
}

// TestUnblockedElsewhereIsServedAtOnce: a project unblocked through another
// replica is served by this one at once, not after its next re-read of the
// blocked set; with a single process the set is trusted as it is.
func TestUnblockedElsewhereIsServedAtOnce(t *testing.T) {
	const path = "/targets/evil/1.0/evil.tar.gz"
	for _, shared := range []bool{true, false} {
		s, st := newBlockedServer(t, shared)
		if code := getStatus(s, path); code != http.StatusGone {
			t.Fatalf("shared=%v: blocked project: %d, want 410", shared, code)
		}
		setBlocked(t, st, "evil", false)
		want := http.StatusNotFound // no such file; what matters is: not 410
		if !shared {
			want = http.StatusGone // until the next refresh; nothing else writes
		}
		if code := getStatus(s, path); code != want {
			t.Errorf("shared=%v: just unblocked: %d, want %d", shared, code, want)
		}
	}
}

// TestBlockedRecheckIsShared: many requests for a blocked project at once
// share the database queries that check it, instead of one each: one
// query at a time, each answering every request that arrived before it.
func TestBlockedRecheckIsShared(t *testing.T) {
	s, st := newBlockedServer(t, true)
	st.delay = 20 * time.Millisecond
	before := st.blockedQueries.Load()
	const requests = 200
	var wg sync.WaitGroup
	var gone atomic.Int64
	for i := range requests {
		wg.Add(1)
		go func() {
			defer wg.Done()
			addr := fmt.Sprintf("192.0.2.%d:1234", i%250+1)
			if c := getStatusFrom(s, "/targets/evil/1.0/evil.tar.gz", addr); c == http.StatusGone {
				gone.Add(1)
			} else {
				t.Errorf("a request for the blocked project: %d, want 410", c)
			}
		}()
	}
	wg.Wait()
	if gone.Load() != requests {
		t.Errorf("%d of %d requests answered 410", gone.Load(), requests)
	}
	if m := st.maxInFlight.Load(); m != 1 {
		t.Errorf("%d queries for the blocked set ran at once; want one at a time", m)
	}
	if q := st.blockedQueries.Load() - before; q < 1 || q > requests/2 {
		t.Errorf("%d requests made %d queries for the blocked set; want at least 1 and far fewer than one each", requests, q)
	}
}
