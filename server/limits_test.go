package server

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// startLimited serves a test repository on 127.0.0.1 through the same
// http.Server and listener `hallmark serve` uses, with lim.
func startLimited(t *testing.T, lim Limits) (addr string, s *Server) {
	t.Helper()
	s = newTestServerWith(t, func(c *Config) { c.Limits = lim })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	hs := s.HTTPServer(ctx)
	go hs.Serve(s.Listener(ln))
	t.Cleanup(func() { cancel(); hs.Close() })
	return ln.Addr().String(), s
}

// slowRequest sends a POST's headers announcing a body of size bytes, then
// the body a byte every gap, until the server answers or closes. It
// returns the status line the server answered and how long that took.
func slowRequest(t *testing.T, addr, path, contentType string, size int, gap time.Duration) (status string, took time.Duration) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n", path, contentType, size)
	answered := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(c).ReadString('\n')
		answered <- strings.TrimSpace(line)
	}()
	t0 := time.NewTicker(gap)
	defer t0.Stop()
	timeout := time.After(10 * time.Second)
	for i := 0; i < size; i++ {
		select {
		case line := <-answered:
			return line, time.Since(start)
		case <-t0.C:
			// Whitespace: valid so far for every parser.
			if _, err := c.Write([]byte{' '}); err != nil {
				return <-answered, time.Since(start)
			}
		case <-timeout:
			return "no answer after 10s", time.Since(start)
		}
	}
	return <-answered, time.Since(start)
}

// TestSlowBodyIsCutOff: a client sending a write request's body a byte at a
// time gets 408 once it falls below the minimum rate, on every route that
// reads a body, and other clients are served meanwhile.
func TestSlowBodyIsCutOff(t *testing.T) {
	addr, _ := startLimited(t, Limits{BodyGrace: 500 * time.Millisecond, MinBodyRate: 1000})
	tests := []struct {
		desc, path, contentType string
	}{
		{"upload", "/api/v1/projects/p/changes", "multipart/form-data; boundary=b"},
		{"project creation", "/api/v1/projects", "multipart/form-data; boundary=b"},
		{"ceremony", "/api/v1/admin/ceremonies", "application/json"},
		{"co-signature", "/api/v1/projects/p/pending/1/signatures", "application/json"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			served := make(chan error, 1)
			go func() {
				time.Sleep(100 * time.Millisecond) // while the slow body trickles in
				resp, err := http.Get("http://" + addr + "/healthz")
				if err == nil {
					resp.Body.Close()
					if resp.StatusCode != 200 {
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
				}
				served <- err
			}()
			status, took := slowRequest(t, addr, tt.path, tt.contentType, 100000, 50*time.Millisecond)
			if !strings.Contains(status, "408") {
				t.Fatalf("slow body got %q after %s, want 408", status, took)
			}
			if took > 3*time.Second {
				t.Fatalf("slow body held for %s; the grace was 500ms", took)
			}
			if err := <-served; err != nil {
				t.Fatalf("another client was not served while the slow body trickled in: %v", err)
			}
		})
	}
}

// TestSlowCeremonyFreesTheSlot: the one-at-a-time ceremony slot is free
// again once a slow ceremony is cut off.
func TestSlowCeremonyFreesTheSlot(t *testing.T) {
	addr, _ := startLimited(t, Limits{BodyGrace: 300 * time.Millisecond, MinBodyRate: 1000})
	if status, _ := slowRequest(t, addr, "/api/v1/admin/ceremonies", "application/json", 100000, 50*time.Millisecond); !strings.Contains(status, "408") {
		t.Fatalf("slow ceremony got %q, want 408", status)
	}
	resp, err := http.Post("http://"+addr+"/api/v1/admin/ceremonies", "application/json", strings.NewReader("{"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("a ceremony after the slow one = %d, want 400 (malformed), not 429 (busy)", resp.StatusCode)
	}
}

// TestSteadyBodyIsNotCutOff: a body arriving above the minimum rate may
// take longer than the grace period.
func TestSteadyBodyIsNotCutOff(t *testing.T) {
	addr, _ := startLimited(t, Limits{BodyGrace: 300 * time.Millisecond, MinBodyRate: 1000})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const chunk, chunks = 400, 12 // 4000 bytes a second for 1.2s
	fmt.Fprintf(c, "POST /api/v1/admin/ceremonies HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", chunk*chunks)
	for range chunks {
		if _, err := c.Write([]byte(strings.Repeat(" ", chunk))); err != nil {
			t.Fatalf("server stopped reading a body arriving at 4000 bytes a second: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || !strings.Contains(line, "400") {
		t.Fatalf("steady body got %q (%v), want 400 (an empty ceremony), not 408", line, err)
	}
}

// TestRequestsPerClient: one address may have MaxRequestsPerClient requests
// in progress; the next gets 429 with Retry-After, and is served once one
// finishes.
func TestRequestsPerClient(t *testing.T) {
	addr, _ := startLimited(t, Limits{BodyGrace: 2 * time.Second, MinBodyRate: 1000, MaxRequestsPerClient: 2})
	var held []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "POST /api/v1/projects/p/changes HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: 100\r\n\r\n--b")
		held = append(held, c)
	}
	time.Sleep(200 * time.Millisecond) // both are in their handlers
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" || !strings.Contains(string(body), "requests in progress") {
		t.Fatalf("third request = %d %q (Retry-After %q), want 429 naming the limit", resp.StatusCode, body, resp.Header.Get("Retry-After"))
	}
	held[0].Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("not served after a held request ended: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestConnectionLimits: connections beyond one client's share get 429, and
// beyond the server's total 503, with a message; idle connections are
// closed after the header timeout and free their place.
func TestConnectionLimits(t *testing.T) {
	tests := []struct {
		desc      string
		lim       Limits
		open      int
		wantCode  string
		wantWords string
	}{
		{"client's share", Limits{MaxConns: 100, MaxConnsPerClient: 3, ReadHeaderTimeout: time.Second}, 3, "429", "too many connections from your address"},
		{"server's total", Limits{MaxConns: 3, MaxConnsPerClient: 100, ReadHeaderTimeout: time.Second}, 3, "503", "the server has too many connections"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			addr, s := startLimited(t, tt.lim)
			for range tt.open {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
			}
			time.Sleep(100 * time.Millisecond) // accepted
			resp, err := http.Get("http://" + addr + "/healthz")
			if err != nil {
				t.Fatalf("connection beyond the limit: %v, want an answer", err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if got := fmt.Sprint(resp.StatusCode); got != tt.wantCode || !strings.Contains(string(body), tt.wantWords) {
				t.Fatalf("connection beyond the limit = %s %q, want %s %q", got, body, tt.wantCode, tt.wantWords)
			}
			// The idle connections are closed after the header timeout.
			time.Sleep(tt.lim.ReadHeaderTimeout + 500*time.Millisecond)
			resp, err = http.Get("http://" + addr + "/healthz")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("after the idle connections timed out: %d, want 200", resp.StatusCode)
			}
			if got := testMetric(t, s, "hallmark_http_refused_connections_total{code=\""+tt.wantCode+"\"}"); got != "1" {
				t.Fatalf("refused connections metric = %q, want 1", got)
			}
		})
	}
}

// TestHugeHeadersRefused: headers beyond MaxHeaderBytes get 431.
func TestHugeHeadersRefused(t *testing.T) {
	addr, _ := startLimited(t, Limits{MaxHeaderBytes: 4096})
	req, _ := http.NewRequest("GET", "http://"+addr+"/healthz", nil)
	req.Header.Set("X-Junk", strings.Repeat("a", 64<<10))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("64 KiB of headers = %d, want 431", resp.StatusCode)
	}
}

func TestLimitsCheck(t *testing.T) {
	tests := []struct {
		desc string
		lim  Limits
		want string
	}{
		{"zero means defaults", Limits{}, ""},
		{"negative rate", Limits{MinBodyRate: -1}, "minimum body rate is negative"},
		{"negative connections", Limits{MaxConnsPerClient: -1}, "per-client connection limit is negative"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			err := tt.lim.Check()
			if (err == nil) != (tt.want == "") || (err != nil && !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("Check() = %v, want %q", err, tt.want)
			}
		})
	}
}

// TestOversizedBodyRefusedAtOnce: a write or ceremony announcing a body
// over the limit gets 413 before the server reads any of it.
func TestOversizedBodyRefusedAtOnce(t *testing.T) {
	addr, _ := startLimited(t, Limits{})
	for _, path := range []string{"/api/v1/projects", "/api/v1/projects/p/changes", "/api/v1/admin/ceremonies"} {
		t.Run(path, func(t *testing.T) {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			// 1 GiB + 1 (the default limit), of which nothing is sent.
			fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: %d\r\n\r\n", path, DefaultMaxUpload+1)
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			line, err := bufio.NewReader(c).ReadString('\n')
			if err != nil || !strings.Contains(line, "413") {
				t.Fatalf("oversized %s got %q (%v), want 413 at once", path, line, err)
			}
		})
	}
}
