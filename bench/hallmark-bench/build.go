package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"hallmark.dev/hallmark/layout"
	"hallmark.dev/hallmark/server"
	"hallmark.dev/hallmark/validation"
)

// benchRepo is one benchmark repository: a data directory in the layout
// `hallmark serve --data DIR` opens, the seeds of its projects' keys, and
// how many of the names it holds.
type benchRepo struct {
	dir    string // <work>/S<shards>
	shards int
	repo   *server.Repo
	names  []projectName
	seeds  *os.File
	built  int
	cancel context.CancelFunc
}

func (r *benchRepo) dataDir() string { return filepath.Join(r.dir, "data") }

type builtInfo struct {
	Projects int `json:"projects"`
}

// openRepo opens (creating on first use) the repository of the given shard
// count under work, through server.OpenRepo as `hallmark serve --dev` does:
// its state in SQLite in the data directory, or in database.
func openRepo(ctx context.Context, work string, shards int, names []projectName, database string) (*benchRepo, error) {
	r := &benchRepo{dir: filepath.Join(work, fmt.Sprintf("S%d", shards)), shards: shards, names: names}
	if err := os.MkdirAll(r.dir, 0o755); err != nil {
		return nil, err
	}
	if data, err := os.ReadFile(filepath.Join(r.dir, "built.json")); err == nil {
		var bi builtInfo
		if err := json.Unmarshal(data, &bi); err != nil {
			return nil, fmt.Errorf("corrupt %s: %w", filepath.Join(r.dir, "built.json"), err)
		}
		r.built = bi.Projects
	}
	var err error
	if r.seeds, err = os.OpenFile(filepath.Join(r.dir, "keys.bin"), os.O_RDWR|os.O_CREATE, 0o600); err != nil {
		return nil, err
	}
	rctx, cancel := context.WithCancel(ctx)
	r.cancel = cancel
	start := time.Now()
	r.repo, err = server.OpenRepo(rctx, r.dataDir(), server.OpenOptions{Dev: true, Shards: shards, Database: database,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		cancel()
		r.seeds.Close()
		return nil, err
	}
	if r.repo.Created {
		logf("created a %d-shard repository in %s (%s)", shards, r.dataDir(), time.Since(start).Round(time.Millisecond))
	}
	return r, nil
}

// close stops the publisher and closes the stores.
func (r *benchRepo) close() {
	r.cancel()
	r.repo.Publisher.Wait()
	r.repo.Close()
	r.seeds.Close()
}

// seed returns the key seed of project i.
func (r *benchRepo) seed(i int) ([32]byte, error) {
	var s [32]byte
	_, err := r.seeds.ReadAt(s[:], int64(i)*32)
	return s, err
}

// buildStats describe one extension of a repository.
type buildStats struct {
	From, To  int
	Elapsed   time.Duration
	Batches   int64
	Published int64
}

// extend creates projects [r.built, n) through publish.Publisher.Submit with
// many concurrent submitters, so that each shard's loop publishes batches.
// Every change is signed by its project's own fresh key and validated by the
// publisher like any upload.
func (r *benchRepo) extend(ctx context.Context, n, submitters int) (buildStats, error) {
	st := buildStats{From: r.built, To: n}
	if n <= r.built {
		return st, nil
	}
	// Shard order: consecutive submissions share a shard, so batches form
	// even with thousands of shards.
	idx := make([]int, 0, n-r.built)
	for i := r.built; i < n; i++ {
		idx = append(idx, i)
	}
	shardOf := func(i int) string { return layout.ShardOf(r.names[i].Name, r.shards) }
	slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(shardOf(a), shardOf(b)) })

	b0, p0, _, _, _, _, _ := r.repo.Publisher.Snapshot()
	start := time.Now()
	pol := layout.DefaultPolicy()
	work := make(chan int)
	changes := make(chan *signedChange, 2*submitters)
	var done, failed atomic.Int64
	var firstErr error
	var errOnce sync.Once
	fail := func(err error) {
		if failed.Add(1) <= 5 {
			logf("create failed: %v", err)
		}
		errOnce.Do(func() { firstErr = err })
	}
	var prodWG, subWG sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		prodWG.Add(1)
		go func() {
			defer prodWG.Done()
			for i := range work {
				// A project submitted by an interrupted run keeps its key.
				seed, err := r.seed(i)
				if err != nil || seed == ([32]byte{}) {
					seed = newSeed()
					if _, err := r.seeds.WriteAt(seed[:], int64(i)*32); err != nil {
						fail(err)
						continue
					}
				}
				c, err := createChange(r.names[i], devKey(r.names[i], seed), pol, time.Now())
				if err != nil {
					fail(err)
					continue
				}
				changes <- c
			}
		}()
	}
	for range submitters {
		subWG.Add(1)
		go func() {
			defer subWG.Done()
			for c := range changes {
				res, err := r.repo.Publisher.Submit(ctx, c.publishChange())
				var rej *validation.Rejected
				switch {
				case err != nil:
					fail(fmt.Errorf("%s: %w", c.Project.Name, err))
				case res.Outcome == validation.Accept:
				case errors.As(res.Reason, &rej) && rej.Code == validation.RejectExists:
					// A resumed build: created before the last checkpoint.
				default:
					fail(fmt.Errorf("%s: %v: %v", c.Project.Name, res.Outcome, res.Reason))
				}
				done.Add(1)
			}
		}()
	}
	stop := make(chan struct{})
	go progress("create", int64(len(idx)), &done, &failed, stop)
	for _, i := range idx {
		if failed.Load() > 100 {
			break
		}
		work <- i
	}
	close(work)
	prodWG.Wait()
	close(changes)
	subWG.Wait()
	close(stop)
	st.Elapsed = time.Since(start)
	b1, p1, _, _, _, _, _ := r.repo.Publisher.Snapshot()
	st.Batches, st.Published = b1-b0, p1-p0
	if failed.Load() > 0 {
		return st, fmt.Errorf("%d of %d creates failed; first: %w", failed.Load(), len(idx), firstErr)
	}
	if err := r.seeds.Sync(); err != nil {
		return st, err
	}
	r.built = n
	data, _ := json.Marshal(builtInfo{Projects: n})
	return st, os.WriteFile(filepath.Join(r.dir, "built.json"), data, 0o644)
}

// progress prints a line to stderr every two seconds until stop closes.
func progress(what string, total int64, done, failed *atomic.Int64, stop chan struct{}) {
	start := time.Now()
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-stop:
			d := done.Load()
			logf("%s: %d/%d in %s (%.0f/s), %d failed", what, d, total, time.Since(start).Round(time.Second), float64(d)/time.Since(start).Seconds(), failed.Load())
			return
		case <-t.C:
			d := done.Load()
			el := time.Since(start)
			rate := float64(d) / el.Seconds()
			eta := "?"
			if rate > 0 {
				eta = (time.Duration(float64(total-d)/rate) * time.Second).Round(time.Second).String()
			}
			logf("%s: %d/%d (%.1f%%) %.0f/s elapsed %s eta %s failed %d", what, d, total, 100*float64(d)/float64(total), rate, el.Round(time.Second), eta, failed.Load())
		}
	}
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, time.Now().Format("15:04:05")+" "+format+"\n", args...)
}
