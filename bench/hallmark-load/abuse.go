package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// The loopback address each kind of abusive client comes from.
const (
	slowBodyAddr   = "127.0.0.2"
	slowHeaderAddr = "127.0.0.3"
	idleAddr       = "127.0.0.4"
	oversizedAddr  = "127.0.0.5"
	floodAddr      = "127.0.0.6"
)

func dialer(src string) *net.Dialer {
	return &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 10 * time.Second}
}

// startAbuse starts every kind of abusive client; they stop with ctx.
func startAbuse(ctx context.Context, wg *sync.WaitGroup, addr string, o *options, st *stats) {
	loop := func(n int, f func()) {
		for range n {
			wg.Go(func() {
				for ctx.Err() == nil {
					f()
				}
			})
		}
	}
	loop(o.slowBodies, func() { slowBody(ctx, addr, st) })
	loop(o.slowHeaders, func() { slowHeader(ctx, addr, st) })
	loop(o.idle, func() { idle(ctx, addr, st) })
	loop(o.oversized, func() { oversized(ctx, addr, st) })
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DialContext: dialer(floodAddr).DialContext, MaxIdleConnsPerHost: o.flood}}
	loop(o.flood, func() { flood(ctx, hc, addr, st) })
}

// held rounds how long a connection was held, for the report.
func held(start time.Time) string {
	d := time.Since(start)
	switch {
	case d < time.Second:
		return "<1s"
	case d < 5*time.Second:
		return "1-5s"
	case d < 15*time.Second:
		return "5-15s"
	case d < 65*time.Second:
		return "15-65s"
	}
	return ">65s"
}

// exchange dials from src, sends head, then feeds one byte a second of
// trickle (if any) until the server answers or closes; it returns the
// outcome: the status code the server answered, or "closed".
func exchange(ctx context.Context, addr, src, head, trickle string) (string, bool) {
	c, err := dialer(src).DialContext(ctx, "tcp", addr)
	if err != nil {
		return "dial error", ctx.Err() == nil
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	if _, err := io.WriteString(c, head); err != nil {
		return "closed", ctx.Err() == nil
	}
	if trickle != "" {
		go func() {
			for i := 0; ctx.Err() == nil; i++ {
				if _, err := c.Write([]byte{trickle[i%len(trickle)]}); err != nil {
					return
				}
				time.Sleep(time.Second)
			}
		}()
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if ctx.Err() != nil {
		return "", false // cut by the end of the run: no verdict
	}
	if err != nil {
		return "closed", true
	}
	if f := strings.Fields(line); len(f) >= 2 {
		return f[1], true
	}
	return "malformed answer", true
}

func slowBody(ctx context.Context, addr string, st *stats) {
	start := time.Now()
	out, ok := exchange(ctx, addr, slowBodyAddr,
		"POST /api/v1/projects/victim/changes HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: 1000000\r\n\r\n", " ")
	if ok {
		st.abuse.add("slow body (1 byte/s)", out+" after "+held(start))
	}
}

func slowHeader(ctx context.Context, addr string, st *stats) {
	start := time.Now()
	out, ok := exchange(ctx, addr, slowHeaderAddr, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ", "abcdefgh")
	if ok {
		st.abuse.add("slow headers (1 byte/s)", out+" after "+held(start))
	}
}

func idle(ctx context.Context, addr string, st *stats) {
	start := time.Now()
	out, ok := exchange(ctx, addr, idleAddr, "", "")
	if ok {
		st.abuse.add("idle connection", out+" after "+held(start))
	}
	if out != "closed" {
		time.Sleep(time.Second) // refused: try again a little later
	}
}

func oversized(ctx context.Context, addr string, st *stats) {
	for _, r := range []struct{ name, head string }{
		{"oversized body (2 GiB announced)", "POST /api/v1/projects HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: 2147483648\r\n\r\n"},
		{"oversized ceremony (2 GiB announced)", "POST /api/v1/admin/ceremonies HTTP/1.1\r\nHost: x\r\nContent-Length: 2147483648\r\n\r\n"},
		{"oversized headers (1 MiB)", "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 1<<20) + "\r\n\r\n"},
	} {
		if out, ok := exchange(ctx, addr, oversizedAddr, r.head, ""); ok {
			st.abuse.add(r.name, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func flood(ctx context.Context, hc *http.Client, addr string, st *stats) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metadata/0/timestamp.json", nil)
	resp, err := hc.Do(req)
	if ctx.Err() != nil {
		return
	}
	if err != nil {
		st.abuse.add("request flood (one address)", "error")
		return
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	st.abuse.add("request flood (one address)", fmt.Sprint(resp.StatusCode))
}

func readAll(resp *http.Response) ([]byte, error) {
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: HTTP %d", resp.Request.URL, resp.StatusCode)
	}
	return io.ReadAll(io.LimitReader(resp.Body, 1<<20))
}
