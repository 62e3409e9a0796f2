package main

import (
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// counter counts the outcomes of one kind of legitimate request, with
// their latencies and the first few errors.
type counter struct {
	ok, failed atomic.Int64
	mu         sync.Mutex
	latencies  []time.Duration
	errors     []string
}

func (c *counter) done(start time.Time, err error) {
	if err != nil {
		c.failed.Add(1)
		c.mu.Lock()
		if len(c.errors) < 5 {
			c.errors = append(c.errors, err.Error())
		}
		c.mu.Unlock()
		return
	}
	c.ok.Add(1)
	c.mu.Lock()
	c.latencies = append(c.latencies, time.Since(start))
	c.mu.Unlock()
}

func (c *counter) percentile(p float64) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.latencies) == 0 {
		return 0
	}
	l := slices.Clone(c.latencies)
	slices.Sort(l)
	return l[min(len(l)-1, int(float64(len(l))*p))]
}

// outcomes counts what abusive clients got, by kind and outcome ("408",
// "closed after 10s", …).
type outcomes struct {
	mu sync.Mutex
	m  map[string]map[string]int
}

func (o *outcomes) add(kind, outcome string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.m[kind] == nil {
		o.m[kind] = map[string]int{}
	}
	o.m[kind][outcome]++
}

type stats struct {
	creates, uploads, hallmarkGets, tufGets counter
	abuse                                   outcomes
}

func newStats() *stats { return &stats{abuse: outcomes{m: map[string]map[string]int{}}} }

func (s *stats) legitFailures() int64 {
	return s.creates.failed.Load() + s.uploads.failed.Load() + s.hallmarkGets.failed.Load() + s.tufGets.failed.Load()
}

func (s *stats) downloadsOK() int64 { return s.hallmarkGets.ok.Load() + s.tufGets.ok.Load() }

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

func report(w io.Writer, o *options, s *stats, samples []sample, finalRSS int64, healthy bool, elapsed time.Duration) {
	fmt.Fprintf(w, "\n## hallmark-load: %s, %d shards\n\n", elapsed.Round(time.Second), o.shards)
	fmt.Fprintf(w, "Legitimate clients (127.0.0.1): %d uploaders, %d downloaders.\n\n", o.uploaders, o.downloaders)
	fmt.Fprintln(w, "| Requests | OK | Failed | p50 | p99 |")
	fmt.Fprintln(w, "| --- | ---: | ---: | ---: | ---: |")
	for _, r := range []struct {
		name string
		c    *counter
	}{{"project creations (maintainer tool)", &s.creates}, {"release uploads (maintainer tool)", &s.uploads},
		{"downloads, Hallmark client", &s.hallmarkGets}, {"downloads, go-tuf updater", &s.tufGets}} {
		fmt.Fprintf(w, "| %s | %d | %d | %s | %s |\n", r.name, r.c.ok.Load(), r.c.failed.Load(),
			r.c.percentile(0.5).Round(time.Millisecond), r.c.percentile(0.99).Round(time.Millisecond))
	}
	for _, r := range []*counter{&s.creates, &s.uploads, &s.hallmarkGets, &s.tufGets} {
		for _, e := range r.errors {
			fmt.Fprintf(w, "\n- error: %s", e)
		}
	}
	fmt.Fprintf(w, "\n\nAbusive clients: %d slow bodies, %d slow headers, %d idle connections, %d oversized, %d flood loops.\n\n",
		o.slowBodies, o.slowHeaders, o.idle, o.oversized, o.flood)
	fmt.Fprintln(w, "| Abuse | Outcomes |")
	fmt.Fprintln(w, "| --- | --- |")
	s.abuse.mu.Lock()
	kinds := make([]string, 0, len(s.abuse.m))
	for k := range s.abuse.m {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		var parts []string
		for out, n := range s.abuse.m[k] {
			parts = append(parts, fmt.Sprintf("%s × %d", out, n))
		}
		sort.Strings(parts)
		fmt.Fprintf(w, "| %s | %s |\n", k, strings.Join(parts, ", "))
	}
	s.abuse.mu.Unlock()
	fmt.Fprintln(w, "\nServer over time:")
	fmt.Fprintln(w, "\n| t | RSS | Go heap in use | goroutines | open files | uploads | downloads | failed |")
	fmt.Fprintln(w, "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	for _, sm := range samples {
		fmt.Fprintf(w, "| %s | %s | %s | %d | %d | %d | %d | %d |\n", sm.at.Round(time.Second), mib(sm.rss), mib(sm.heap), sm.gor, sm.fds, sm.uploads, sm.downs, sm.failures)
	}
	fmt.Fprintf(w, "\nAfter the clients stopped: RSS %s, /healthz %s.\n", mib(finalRSS), map[bool]string{true: "200", false: "not 200"}[healthy])
}
