// Command hallmark-bench builds Hallmark repositories of N projects across S
// shards through the real validation and publishing code, and measures what
// the issue "Scale: prove the sharded design at PyPI size, and make
// publishing fast" asks for:
//
//   - client metadata bytes and time (package client, go-tuf's updater) for a
//     first get, a refresh with no change, and refreshes after a release and
//     after a new project in the same shard; beside two single-repository
//     baselines built with go-tuf's metadata API (flat, and nested hash bins);
//   - publishing: signed uploads per second through the HTTP API with 1, 16
//     and 64 concurrent uploaders, and the time from request to visibility;
//   - serving: requests per second for metadata and targets, beside nginx
//     serving the same blob directory;
//   - the memory of `hallmark serve` on the largest repository.
//
// Every project is created by one signed change (owners role and releases
// role with a first release of two files), signed by its own freshly
// generated ed25519 key and validated by the publisher as any upload is.
// Repositories live in -work DIR as S<shards>/data, a data directory that
// `hallmark serve --data DIR` serves; a later run with a larger -n extends
// them. Progress goes to stderr, results to stdout (Markdown tables) and to
// DIR/results.jsonl.
//
// Quick run (a minute or two):
//
//	go run ./bench/hallmark-bench -quick
//
// The runs of docs/benchmarks.md (about half an hour on 2 cores), from the
// module root, with a built binary:
//
//	go build -o hallmark-bench ./bench/hallmark-bench
//	./hallmark-bench -n 10000,100000,500000 -shards 4096 -only-shards 16 -work /var/tmp/hb2 -upload-at-every-n
//	./hallmark-bench -n 10000,100000,500000 -shards 1,16,256 -only-shards 4 -work /var/tmp/hb2 -phases build,client,upload
//	./hallmark-bench -n 20000 -shards 4096 -work /var/tmp/hb3 -phases build,client,upload,serve
//	./hallmark-bench -report /var/tmp/hb2/results.jsonl
//
// -only-shards K fills only K shards (their projects among the first N
// names): shards share nothing online, so a client of a filled shard and
// the publisher's work per batch see what they would in the full
// repository. A complete N=500,000 build runs at 200-500 creates/s here.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

type options struct {
	work        string
	ns          []int
	shards      []int
	namesFile   string
	submitters  int
	phases      map[string]bool
	uploaders   []int
	uploads     int
	uploadTime  time.Duration
	warmup      int
	uploadAtAll bool
	serveTime   time.Duration
	serveConns  int
	baseBins    []int
	profileDir  string
	force       bool
	database    string
	onlyShards  int
	report      string
	baseFlat    bool
}

func intList(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("%q is not a list of counts", s)
		}
		out = append(out, n)
	}
	return out, nil
}

func parseFlags() (*options, error) {
	o := &options{}
	var ns, shards, phases, uploaders, bins string
	quick := flag.Bool("quick", false, "small preset: -n 2000 -shards 16,256 -uploads 300 -serve-time 3s (a minute or two)")
	flag.StringVar(&o.work, "work", filepath.Join(os.TempDir(), "hallmark-bench"), "work directory: repositories (S<shards>/data), profiles, results.jsonl")
	flag.StringVar(&ns, "n", "10000,100000,500000", "project counts to measure at, ascending; each repository is extended to each in turn")
	flag.StringVar(&shards, "shards", "1,16,256,4096", "shard counts (1, 16, 256, 4096)")
	flag.StringVar(&o.namesFile, "names", "", "project name list, one per line (.gz allowed); default ../shared/data/pypi-names.txt.gz if present, else synthetic names")
	flag.IntVar(&o.submitters, "submitters", 512, "concurrent Publisher.Submit calls while building")
	flag.StringVar(&phases, "phases", "build,client,baseline,upload,serve", "phases to run")
	flag.StringVar(&uploaders, "uploaders", "1,16,64", "concurrent HTTP uploaders")
	flag.IntVar(&o.uploads, "uploads", 3000, "signed uploads per uploader level (at most)")
	flag.DurationVar(&o.uploadTime, "upload-time", 30*time.Second, "time limit per uploader level")
	flag.IntVar(&o.warmup, "warmup", 0, "signed uploads sent before the first measured level, untimed and not reported (the server of a long run holds every shard's online roles decoded; a new one decodes them at each shard's first upload)")
	flag.BoolVar(&o.uploadAtAll, "upload-at-every-n", false, "run the upload benchmark at every -n (default: the largest only)")
	flag.DurationVar(&o.serveTime, "serve-time", 10*time.Second, "duration of each serving load run")
	flag.IntVar(&o.serveConns, "serve-conns", 64, "connections of the serving load generator")
	flag.BoolVar(&o.baseFlat, "baseline-flat", true, "build the flat single-repository baseline (at N=500k: a 190 MB role, minutes)")
	flag.StringVar(&bins, "baseline-bins", "256,4096", "hash-bin counts of the nested-bin single-repository baseline")
	flag.StringVar(&o.profileDir, "profile", "", "write CPU profiles of the build and upload phases to this directory")
	flag.IntVar(&o.onlyShards, "only-shards", 0, "build only the projects that fall in this many shards (spread over the ids); the others stay empty (0: all)")
	flag.StringVar(&o.report, "report", "", "print the Markdown tables of a results.jsonl file and exit")
	flag.StringVar(&o.database, "database", "", "keep the state in this PostgreSQL database (postgres://…, created and migrated beforehand) instead of SQLite; the blobs stay in the work directory")
	flag.BoolVar(&o.force, "force", false, "build even when a shard's new-projects bin would pass the 4 MiB role limit (it jams the shard)")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: hallmark-bench [flags]\n\n%s\nFlags:\n", usage)
		flag.PrintDefaults()
	}
	flag.Parse()
	if *quick {
		ns, shards, o.uploads, o.serveTime, o.uploadTime = "2000", "16,256", 300, 3*time.Second, 10*time.Second
		bins = "256"
		flag.Visit(func(f *flag.Flag) {
			switch f.Name {
			case "n":
				ns = f.Value.String()
			case "shards":
				shards = f.Value.String()
			}
		})
	}
	var err error
	if o.ns, err = intList(ns); err != nil {
		return nil, err
	}
	if o.shards, err = intList(shards); err != nil {
		return nil, err
	}
	if o.uploaders, err = intList(uploaders); err != nil {
		return nil, err
	}
	if o.baseBins, err = intList(bins); err != nil {
		return nil, err
	}
	o.phases = map[string]bool{}
	for _, p := range strings.Split(phases, ",") {
		o.phases[strings.TrimSpace(p)] = true
	}
	return o, nil
}

const usage = `Builds Hallmark repositories of N projects (one release each, real PyPI names when
../shared/data is present) across S shards through the real validation and publisher,
then measures client metadata bytes (against flat and nested-hash-bin single-repository
baselines), HTTP upload throughput and visibility latency, serving throughput beside
nginx, and the memory of 'hallmark serve'. Traffic goes to 127.0.0.1 only.

Run from the module root. Repositories persist in -work and are extended by later runs.
Times on 2 cores: -quick 1-2 min; a complete build creates 200-500 projects/s (N=20k at
S=4096: ~1 min plus the uploads and serving runs); with -only-shards, N=500k takes minutes;
the flat single-repository baseline at N=500k (a 190 MB role) takes about 5 min.
`

func main() {
	o, err := parseFlags()
	if err != nil {
		fmt.Fprintln(os.Stderr, "hallmark-bench:", err)
		os.Exit(2)
	}
	if o.report != "" {
		rs, err := readResults(o.report)
		if err != nil {
			fmt.Fprintln(os.Stderr, "hallmark-bench:", err)
			os.Exit(1)
		}
		printTables(os.Stdout, rs)
		return
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt)
	defer cancel()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "hallmark-bench:", err)
		os.Exit(1)
	}
}
