package e2e

// Hardening of a real `hallmark serve` process against clients that hold
// it (slow bodies, too many requests), its clean-up after a crash, and what
// it tells its operator (/metrics, pprof).

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestAttackSlowBodyDoesNotHoldTheServer: an outsider sending an upload's
// body a byte every 100 ms gets 408 once it falls behind the minimum rate,
// while a maintainer creates a project and uploads a release meanwhile.
func TestAttackSlowBodyDoesNotHoldTheServer(t *testing.T) {
	srv := StartServer(t, "--body-grace", "2s", "--body-min-rate", "1000")
	alice := NewMaintainer(t, srv, "alice")
	type answer struct {
		status string
		took   time.Duration
	}
	slow := make(chan answer, 4)
	for range 4 {
		go func() {
			c, err := net.Dial("tcp", srv.Addr)
			if err != nil {
				slow <- answer{status: err.Error()}
				return
			}
			defer c.Close()
			start := time.Now()
			fmt.Fprintf(c, "POST /api/v1/projects HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: 1000000\r\n\r\n")
			go func() {
				for i := 0; i < 600; i++ {
					if _, err := c.Write([]byte{' '}); err != nil {
						return
					}
					time.Sleep(100 * time.Millisecond)
				}
			}()
			c.SetReadDeadline(time.Now().Add(30 * time.Second))
			line, err := bufio.NewReader(c).ReadString('\n')
			if err != nil {
				line = err.Error()
			}
			slow <- answer{status: strings.TrimSpace(line), took: time.Since(start)}
		}()
	}
	dir := t.TempDir()
	alice.MustRun("project", "create", "patient", "--key", "alice")
	alice.MustRun("release", "upload", "patient", "1.0.0", WriteFile(t, dir, "patient-1.0.0.tar.gz", []byte("served meanwhile")), "--key", "alice")
	for range 4 {
		a := <-slow
		if !strings.Contains(a.status, "408") || a.took > 10*time.Second {
			t.Fatalf("slow upload body: %q after %s, want 408 within a few seconds of the 2s grace", a.status, a.took)
		}
	}
}

// TestServeRefusesBadLimits: a negative limit is refused with what to do.
func TestServeRefusesBadLimits(t *testing.T) {
	u := &User{t: t, Home: t.TempDir()}
	u.MustFail("minimum body rate is negative", "serve", "--dev", "--data", filepath.Join(t.TempDir(), "d"), "--addr", freeAddr(t), "--body-min-rate", "-5")
}

// TestLeftoversRemovedAtStart: temporary blob files and staged uploads a
// kill -9 left behind are removed when the server starts again; the
// published files stay and verify.
func TestLeftoversRemovedAtStart(t *testing.T) {
	needBlobDir(t) // an object store leaves no temporary files
	srv := StartServer(t)
	alice := NewMaintainer(t, srv, "alice")
	dir := t.TempDir()
	alice.MustRun("project", "create", "tidy", "--key", "alice")
	alice.MustRun("release", "upload", "tidy", "1.0.0", WriteFile(t, dir, "tidy-1.0.0.tar.gz", []byte("kept")), "--key", "alice")
	srv.Kill()
	targets := filepath.Join(srv.Data, "blobs", "targets", "tidy", "1.0.0")
	leftovers := []string{
		filepath.Join(targets, ".tmp-00112233aabbccdd"),
		filepath.Join(srv.Data, "blobs", "metadata", "0", ".tmp-8899aabbccddeeff"),
		filepath.Join(srv.Data, "staging", "0123456789abcdef01234567"),
	}
	old := time.Now().Add(-time.Minute)
	for _, f := range leftovers {
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, make([]byte, 1<<20), 0o644); err != nil {
			t.Fatal(err)
		}
		os.Chtimes(f, old, old)
	}
	srv.Start()
	deadline := time.Now().Add(10 * time.Second)
	for _, f := range leftovers {
		for {
			_, err := os.Stat(f)
			if errors.Is(err, os.ErrNotExist) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s is still there 10s after start-up (%v); server log:\n%s", f, err, srv.Log())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	out := filepath.Join(dir, "got")
	alice.MustRun("get", "tidy@1.0.0", "-o", out)
	if b, err := os.ReadFile(filepath.Join(out, "tidy-1.0.0.tar.gz")); err != nil || string(b) != "kept" {
		t.Fatalf("after the clean-up the release reads %q (%v)", b, err)
	}
	if !strings.Contains(srv.Log(), "removed leftover temporary blob files") {
		t.Fatalf("the server did not say what it removed:\n%s", srv.Log())
	}
}

// TestMetricsAndPprof: /metrics counts requests by route and status and
// carries the Go runtime's figures; --pprof serves the profiler on its own
// address only.
func TestMetricsAndPprof(t *testing.T) {
	pp := freeAddr(t)
	srv := StartServer(t, "--pprof", pp)
	alice := NewMaintainer(t, srv, "alice")
	alice.MustRun("project", "create", "counted", "--key", "alice")
	// With two replicas, each counts what it answered or published.
	var metrics string
	for _, p := range srv.Processes() {
		metrics += httpGet(t, p+"/metrics", 200)
	}
	for _, want := range []struct {
		series string
		value  float64
	}{
		{`hallmark_http_requests_total{code="201",route="POST /api/v1/projects"}`, 1},
		{`hallmark_http_request_duration_seconds_bucket{route="POST /api/v1/projects",le="+Inf"}`, 1},
		{`hallmark_changes_published_total`, 1},
		{`hallmark_publish_queue_depth`, 0},
		{`hallmark_shards_behind`, 0},
	} {
		if !strings.Contains(metrics, want.series+" ") {
			t.Errorf("/metrics lacks %s", want.series)
		} else if v := metricValue(t, srv, want.series); v != want.value {
			t.Errorf("/metrics: %s = %v, want %v", want.series, v, want.value)
		}
	}
	for _, want := range []string{
		"go_goroutines ",
		"process_resident_memory_bytes ",
		`hallmark_witness_cosigned_total{witness="`, // the development witness
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if body := httpGet(t, "http://"+pp+"/debug/pprof/", 200); !strings.Contains(body, "goroutine") {
		t.Errorf("pprof index lacks the goroutine profile:\n%s", body)
	}
	httpGet(t, srv.URL+"/debug/pprof/", 404)
}

func httpGet(t *testing.T, url string, status int) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != status {
		t.Fatalf("GET %s = %d, want %d: %s", url, resp.StatusCode, status, b)
	}
	return string(b)
}
