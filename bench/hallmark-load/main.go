// Command hallmark-load runs legitimate and abusive clients together
// against a real `hallmark serve` process on 127.0.0.1, for a while, and
// reports what issue 15 asks of the server under load: no failed
// legitimate request, abusive clients answered with 408/413/429 (or cut
// off) without starving the others, and bounded memory.
//
// Legitimate clients, from 127.0.0.1:
//
//   - uploaders: each creates its own project and uploads a release after
//     another, with the maintainer tool (package maintainer), which learns
//     the project's state through TUF verification first;
//   - downloaders: each downloads the latest release of a random project,
//     half with Hallmark's client library (package client), half with
//     go-tuf's updater started from the shard's root checked against the
//     trust file.
//
// Abusive clients, each kind from its own loopback address (127.0.0.2 and
// up, so that the per-client limits tell them from the legitimate ones):
// slow bodies (a byte a second), slow headers, idle connections (more than
// one address may hold), oversized requests (headers and bodies) and a
// request flood.
//
// It starts the server itself from a built binary, samples the server's
// resident memory (VmRSS) every few seconds, and prints a report:
//
//	go build -o /tmp/hallmark ./cmd/hallmark
//	go run ./bench/hallmark-load -hallmark /tmp/hallmark -duration 2m \
//	    -uploaders 4 -downloaders 16 -slow-bodies 50 -slow-headers 50 -idle 300 -oversized 2 -flood 32
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"time"
)

type options struct {
	hallmark    string
	shards      int
	duration    time.Duration
	uploaders   int
	downloaders int
	slowBodies  int
	slowHeaders int
	idle        int
	oversized   int
	flood       int
	sample      time.Duration
	serveArgs   string
}

func main() {
	o := &options{}
	flag.StringVar(&o.hallmark, "hallmark", "", "the hallmark binary to start the server from (required; go build -o /tmp/hallmark ./cmd/hallmark)")
	flag.IntVar(&o.shards, "shards", 16, "shard count of the development repository")
	flag.DurationVar(&o.duration, "duration", 2*time.Minute, "how long the clients run")
	flag.IntVar(&o.uploaders, "uploaders", 4, "legitimate uploaders (at most the server's --create-rate, 30 by default)")
	flag.IntVar(&o.downloaders, "downloaders", 16, "legitimate downloaders (half Hallmark's client, half go-tuf)")
	flag.IntVar(&o.slowBodies, "slow-bodies", 20, "clients sending a write's body a byte a second")
	flag.IntVar(&o.slowHeaders, "slow-headers", 20, "clients sending headers a byte a second")
	flag.IntVar(&o.idle, "idle", 300, "idle connections opened by one address")
	flag.IntVar(&o.oversized, "oversized", 2, "clients sending oversized headers and bodies in a loop")
	flag.IntVar(&o.flood, "flood", 32, "concurrent request loops from one address")
	flag.DurationVar(&o.sample, "sample", 10*time.Second, "how often to sample the server's memory")
	flag.StringVar(&o.serveArgs, "serve-args", "", "extra arguments for 'hallmark serve', space-separated")
	flag.Parse()
	if o.hallmark == "" {
		fmt.Fprintln(os.Stderr, "hallmark-load: -hallmark is required\nbuild it with: go build -o /tmp/hallmark ./cmd/hallmark")
		os.Exit(2)
	}
	if o.uploaders < 1 || o.downloaders < 0 || o.duration <= 0 {
		fmt.Fprintln(os.Stderr, "hallmark-load: needs at least one uploader, no negative counts and a positive -duration")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "hallmark-load:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o *options) error {
	srv, err := startServer(ctx, o)
	if err != nil {
		return err
	}
	defer srv.stop()
	logf("server %s (pid %d) with %d shards", srv.url, srv.cmd.Process.Pid, o.shards)

	st := newStats()
	legit, err := setUp(ctx, srv.url, o, st)
	if err != nil {
		return fmt.Errorf("setting up the legitimate clients: %w", err)
	}
	logf("%d projects created with a first release; running for %s", len(legit.projects), o.duration)

	runCtx, cancel := context.WithTimeout(ctx, o.duration)
	defer cancel()
	var wg sync.WaitGroup
	start := time.Now()
	legit.start(runCtx, &wg, o, st)
	startAbuse(runCtx, &wg, srv.addr, o, st)
	samples := sampleMemory(runCtx, srv, o.sample, st, start)
	<-runCtx.Done()
	wg.Wait()
	elapsed := time.Since(start)
	// The server after the abuse: still healthy, memory once clients left.
	time.Sleep(2 * time.Second)
	final := srv.rss()
	healthy := srv.healthy()
	report(os.Stdout, o, st, <-samples, final, healthy, elapsed)
	if st.legitFailures() > 0 || !healthy {
		return fmt.Errorf("%d legitimate requests failed; healthy after the run: %v", st.legitFailures(), healthy)
	}
	return nil
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}
