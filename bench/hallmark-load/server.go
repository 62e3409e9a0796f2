package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// server is a `hallmark serve --dev` process on a fresh data directory.
type server struct {
	cmd  *exec.Cmd
	dir  string
	addr string
	url  string
	log  *os.File
}

func startServer(ctx context.Context, o *options) (*server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	dir, err := os.MkdirTemp("", "hallmark-load-")
	if err != nil {
		return nil, err
	}
	log, err := os.Create(filepath.Join(dir, "serve.log"))
	if err != nil {
		return nil, err
	}
	args := []string{"serve", "--dev", "--data", filepath.Join(dir, "data"), "--addr", addr, "--shards", strconv.Itoa(o.shards)}
	args = append(args, strings.Fields(o.serveArgs)...)
	cmd := exec.Command(o.hallmark, args...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &server{cmd: cmd, dir: dir, addr: addr, url: "http://" + addr, log: log}
	deadline := time.Now().Add(2 * time.Minute)
	for !s.healthy() {
		if time.Now().After(deadline) || ctx.Err() != nil {
			s.stop()
			return nil, fmt.Errorf("the server did not become healthy; see %s", log.Name())
		}
		time.Sleep(100 * time.Millisecond)
	}
	return s, nil
}

func (s *server) healthy() bool {
	resp, err := http.Get(s.url + "/healthz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// rss returns the server's resident memory in bytes (0 if unknown).
func (s *server) rss() int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// runtime returns the server's Go heap in use and goroutines, from its
// /metrics (0 if unknown).
func (s *server) runtime() (heap int64, goroutines int) {
	resp, err := http.Get(s.url + "/metrics")
	if err != nil {
		return 0, 0
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "go_memstats_heap_inuse_bytes "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			heap = int64(f)
		}
		if v, ok := strings.CutPrefix(sc.Text(), "go_goroutines "); ok {
			goroutines, _ = strconv.Atoi(v)
		}
	}
	return heap, goroutines
}

// openFDs returns how many files the server holds open (-1 if unknown).
func (s *server) openFDs() int {
	entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", s.cmd.Process.Pid))
	if err != nil {
		return -1
	}
	return len(entries)
}

func (s *server) stop() {
	s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		s.cmd.Process.Kill()
		<-done
	}
	s.log.Close()
	os.RemoveAll(s.dir)
}

// sample is the server's state at one moment of the run.
type sample struct {
	at       time.Duration
	rss      int64
	heap     int64
	gor      int
	fds      int
	uploads  int64
	downs    int64
	failures int64
}

// sampleMemory records the server's memory and open files every few
// seconds until ctx ends; the samples arrive on the channel then.
func sampleMemory(ctx context.Context, s *server, every time.Duration, st *stats, start time.Time) <-chan []sample {
	out := make(chan []sample, 1)
	go func() {
		var samples []sample
		t := time.NewTicker(every)
		defer t.Stop()
		take := func() {
			heap, gor := s.runtime()
			samples = append(samples, sample{at: time.Since(start), rss: s.rss(), heap: heap, gor: gor, fds: s.openFDs(),
				uploads: st.uploads.ok.Load(), downs: st.downloadsOK(), failures: st.legitFailures()})
		}
		take()
		for {
			select {
			case <-ctx.Done():
				take()
				out <- samples
				return
			case <-t.C:
				take()
			}
		}
	}()
	return out
}
