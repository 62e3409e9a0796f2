package e2e

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// startBalancer listens on addr and hands each connection to the next of
// backends in turn, as a TCP load balancer in front of several replicas
// does: the bytes pass unchanged, so a client sees whichever replica it
// reached. A backend that refuses the connection (a replica that is down)
// is skipped for the next. It stops when the test ends.
func startBalancer(t testing.TB, addr string, backends ...string) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("balancer: %v", err)
	}
	var (
		next  atomic.Uint64
		mu    sync.Mutex
		conns = map[net.Conn]bool{}
		wg    sync.WaitGroup
	)
	track := func(c net.Conn, add bool) bool {
		mu.Lock()
		defer mu.Unlock()
		if conns == nil {
			return false
		}
		if add {
			conns[c] = true
		} else {
			delete(conns, c)
		}
		return true
	}
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		conns = nil
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				if !track(c, true) {
					return
				}
				defer track(c, false)
				n := next.Add(1)
				var up net.Conn
				for i := range backends {
					if up, err = net.DialTimeout("tcp", backends[(int(n)+i)%len(backends)], 2*time.Second); err == nil {
						break
					}
				}
				if up == nil {
					return
				}
				defer up.Close()
				if !track(up, true) {
					return
				}
				defer track(up, false)
				pipe(c, up)
			}()
		}
	}()
}

// pipe copies both ways between a and b until both directions end,
// passing on a half-close (a client that is done sending still gets its
// answer).
func pipe(a, b net.Conn) {
	done := make(chan struct{}, 2)
	half := func(dst, src net.Conn) {
		io.Copy(dst, src)
		if tc, ok := dst.(*net.TCPConn); ok {
			tc.CloseWrite()
		} else {
			dst.Close()
		}
		done <- struct{}{}
	}
	go half(a, b)
	go half(b, a)
	<-done
	<-done
}
