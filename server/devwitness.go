package server

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"hallmark.dev/hallmark/witness"
)

// DevWitnessDir is the data directory of a development repository's own
// witness, inside the repository's data directory. A real witness is run by
// someone else, elsewhere: one beside the server protects nothing against
// whoever owns the server.
const DevWitnessDir = "dev-witness"

// devWitnessName is the development witness's name in every shard's root.
const devWitnessName = "dev-witness"

// newDevWitness creates a development repository's witness and returns its
// public keys, reached at a free loopback port chosen now and kept.
func newDevWitness(dir string, shards int) (*witness.Keys, error) {
	wdir := filepath.Join(dir, DevWitnessDir)
	if err := witness.Init(wdir, devWitnessName); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	id, err := witness.Load(wdir)
	if err != nil {
		return nil, err
	}
	return id.Export("http://"+addr, shards)
}

// startDevWitness starts the development repository's witness as a
// separate process, with its own data directory, and waits until it
// answers; the process ends with ctx, or with this one. It does nothing
// for a repository without a development witness.
func (r *Repo) startDevWitness(ctx context.Context, o OpenOptions) error {
	url := r.Info.DevWitness
	if url == "" {
		return nil
	}
	stderr := o.WitnessLog
	if stderr == nil {
		stderr = io.Discard
	}
	wdir := filepath.Join(r.Dir, DevWitnessDir)
	if !o.embedded() {
		// Replicas of a development repository share one witness (every
		// shard's root names one URL): whichever replica finds it gone
		// starts it again.
		if !answers(url) {
			if err := runDevWitness(ctx, url, wdir, o.Log, stderr); err != nil && !answers(url) {
				return err
			}
		}
		go superviseDevWitness(ctx, url, wdir, o.Log, stderr)
		r.DevWitnessURL = url
		return nil
	}
	if err := runDevWitness(ctx, url, wdir, o.Log, stderr); err != nil {
		return err
	}
	r.DevWitnessURL = url
	return nil
}

// answers reports whether a witness answers at url.
func answers(url string) bool {
	c := &http.Client{Timeout: time.Second}
	resp, err := c.Get(url + "/healthz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// superviseDevWitness starts the shared development witness again when
// the replica that ran it is gone, until ctx ends.
func superviseDevWitness(ctx context.Context, url, wdir string, log *slog.Logger, stderr io.Writer) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(500 * time.Millisecond):
		}
		if !answers(url) {
			if err := runDevWitness(ctx, url, wdir, log, stderr); err != nil && ctx.Err() == nil && !answers(url) {
				log.Warn("the shared development witness did not start", "err", err)
			}
		}
	}
}

func runDevWitness(ctx context.Context, url, wdir string, log *slog.Logger, stderr io.Writer) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	addr := strings.TrimPrefix(url, "http://")
	// A witness left by a server killed a moment ago may still hold the
	// port: try for a few seconds.
	deadline := time.Now().Add(15 * time.Second)
	for {
		cmd := exec.CommandContext(ctx, exe, "witness", "serve", "--data", wdir, "--addr", addr)
		cmd.Stdout, cmd.Stderr = stderr, stderr
		// The witness must not outlive the server that started it.
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
		cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
		cmd.WaitDelay = 5 * time.Second
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("failed to start the development witness: %w", err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		if waitHealthy(ctx, url, exited) {
			go func() {
				if err := <-exited; err != nil && ctx.Err() == nil {
					log.Error("the development witness stopped", "err", err)
				}
			}()
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("the development witness did not start at %s (is another program using that port?)", url)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// waitHealthy polls a witness's /healthz until it answers, its process
// exits, or a few seconds pass.
func waitHealthy(ctx context.Context, url string, exited <-chan error) bool {
	c := &http.Client{Timeout: time.Second}
	for range 50 {
		select {
		case <-exited:
			return false
		case <-ctx.Done():
			return false
		case <-time.After(100 * time.Millisecond):
		}
		resp, err := c.Get(url + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return true
			}
		}
	}
	return false
}
