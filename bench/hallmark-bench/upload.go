package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"hallmark.dev/hallmark/api"
	"hallmark.dev/hallmark/layout"
	"hallmark.dev/hallmark/tufmeta"
)

// uploadResult is one uploader level of the publishing benchmark.
type uploadResult struct {
	Uploaders      int     `json:"uploaders"`
	Sent           int     `json:"sent"`
	Published      int     `json:"published"`
	Failed         int     `json:"failed"`
	Seconds        float64 `json:"seconds"`
	PerSecond      float64 `json:"per_second"`
	P50ms          float64 `json:"p50_ms"`
	P90ms          float64 `json:"p90_ms"`
	P99ms          float64 `json:"p99_ms"`
	MaxMs          float64 `json:"max_ms"`
	Batches        int64   `json:"batches"`
	ChangesPerBat  float64 `json:"changes_per_batch"`
	VisibleChecked int     `json:"visible_checked"`
	VisibleOK      int     `json:"visible_ok"`
	FirstError     string  `json:"first_error,omitempty"`
	// RSSKB is the benchmark process's resident memory after the level:
	// the server, its publisher and caches, and the load generator with
	// its signed requests.
	RSSKB int64 `json:"rss_kb"`
}

// uploadBench sends signed releases through the HTTP API
// (POST /api/v1/projects/{p}/changes, as maintainer.Submit does) with 1, 16
// and 64 concurrent uploaders. A change is visible once the shard's served
// timestamp names a snapshot that contains it; the publisher answers only
// after it wrote that timestamp, and a sample of answers is checked by
// fetching timestamp.json.
func uploadBench(ctx context.Context, r *benchRepo, n int, o *options, rs *results) error {
	url, stop, err := r.startServer()
	if err != nil {
		return err
	}
	defer stop()
	rng := rand.New(rand.NewPCG(uint64(n), uint64(r.shards)))
	if o.warmup > 0 && len(o.uploaders) > 0 {
		// Projects the measured levels will not pick (they pick from the
		// same permutation's start), so the warm-up warms shards, not the
		// measured projects.
		perm := rng.Perm(r.built)
		count := min(o.warmup, r.built/2)
		logf("S=%d N=%d: warming up with %d uploads", r.shards, n, count)
		reqs, err := r.prepareUploads(ctx, perm[len(perm)-count:])
		if err != nil {
			return err
		}
		res, err := r.runUploads(ctx, url, reqs, o.uploaders[0], o.uploadTime*10)
		if err != nil {
			return err
		}
		logf("S=%d N=%d: warm-up: %d published in %.1fs (%.0f/s), %d failed %s", r.shards, n, res.Published, res.Seconds, res.PerSecond, res.Failed, res.FirstError)
		rng = rand.New(rand.NewPCG(uint64(n), uint64(r.shards)))
	}
	for _, u := range o.uploaders {
		count := min(o.uploads, r.built)
		pick := rng.Perm(r.built)[:count]
		logf("S=%d N=%d: signing %d releases for %d uploaders", r.shards, n, count, u)
		reqs, err := r.prepareUploads(ctx, pick)
		if err != nil {
			return err
		}
		res, err := profiled(o.profileDir, fmt.Sprintf("upload-S%d-N%d-U%d", r.shards, n, u), func() (uploadResult, error) {
			return r.runUploads(ctx, url, reqs, u, o.uploadTime)
		})
		if err != nil {
			return err
		}
		rs.add("upload", map[string]any{"N": n, "S": r.shards, "result": res})
		logf("S=%d N=%d U=%d: %d published in %.1fs: %.0f/s, p50 %.0f ms, p99 %.0f ms, %.1f changes/batch, visible %d/%d, %d failed, RSS %d MB %s",
			r.shards, n, u, res.Published, res.Seconds, res.PerSecond, res.P50ms, res.P99ms, res.ChangesPerBat, res.VisibleOK, res.VisibleChecked, res.Failed, res.RSSKB>>10, res.FirstError)
	}
	return nil
}

// prepareUploads signs the next release of each picked project (what the
// maintainer's machine does), before the clock starts.
func (r *benchRepo) prepareUploads(ctx context.Context, pick []int) ([]*httpRequest, error) {
	out := make([]*httpRequest, len(pick))
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, runtime.GOMAXPROCS(0))
	for w := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				k := int(next.Add(1)) - 1
				if k >= len(pick) {
					return
				}
				c, err := r.nextRelease(ctx, pick[k])
				if err == nil {
					out[k], err = c.httpRequest()
				}
				if err != nil {
					errs[w] = err
					return
				}
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (r *benchRepo) runUploads(ctx context.Context, url string, reqs []*httpRequest, uploaders int, limit time.Duration) (uploadResult, error) {
	res := uploadResult{Uploaders: uploaders}
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: uploaders, DisableCompression: true}, Timeout: time.Minute}
	b0, p0, _, _, _, _, _ := r.repo.Publisher.Snapshot()
	var next atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration
	var failed, checked, visible int
	start := time.Now()
	deadline := start.Add(limit)
	var wg sync.WaitGroup
	for range uploaders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) && ctx.Err() == nil {
				k := int(next.Add(1)) - 1
				if k >= len(reqs) {
					return
				}
				q := reqs[k]
				t := time.Now()
				out, err := post(ctx, hc, url, q)
				d := time.Since(t)
				vis := -1
				if err == nil && k%20 == 0 {
					vis = 0
					if v, verr := servedSnapshotVersion(ctx, hc, url, out.Shard); verr == nil && v >= out.SnapshotVersion {
						vis = 1
					}
				}
				mu.Lock()
				if err != nil {
					failed++
					if res.FirstError == "" {
						res.FirstError = err.Error()
					}
				} else {
					lat = append(lat, d)
				}
				if vis >= 0 {
					checked++
					visible += vis
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	b1, p1, _, _, _, _, _ := r.repo.Publisher.Snapshot()
	res.Sent, res.Published, res.Failed = len(lat)+failed, len(lat), failed
	res.Seconds, res.PerSecond = el.Seconds(), float64(len(lat))/el.Seconds()
	res.Batches = b1 - b0
	if res.Batches > 0 {
		res.ChangesPerBat = float64(p1-p0) / float64(res.Batches)
	}
	res.VisibleChecked, res.VisibleOK = checked, visible
	slices.Sort(lat)
	q := func(f float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		return float64(lat[min(len(lat)-1, int(f*float64(len(lat))))].Microseconds()) / 1000
	}
	res.P50ms, res.P90ms, res.P99ms, res.MaxMs = q(0.50), q(0.90), q(0.99), q(1)
	res.RSSKB = readRSS(os.Getpid())["VmRSS"]
	return res, nil
}

func post(ctx context.Context, hc *http.Client, url string, q *httpRequest) (*api.ChangeResponse, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+q.Path, bytes.NewReader(q.Body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", q.ContentType)
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusCreated {
		return nil, fmt.Errorf("%s: HTTP %d: %s", q.Project.Name, resp.StatusCode, bytes.TrimSpace(body))
	}
	var out api.ChangeResponse
	if err := json.Unmarshal(body, &out); err != nil {
		return nil, err
	}
	if out.Status != api.StatusPublished {
		return nil, fmt.Errorf("%s: status %s", q.Project.Name, out.Status)
	}
	return &out, nil
}

// servedSnapshotVersion fetches a shard's timestamp.json as a client would
// and returns the snapshot version it names.
func servedSnapshotVersion(ctx context.Context, hc *http.Client, url, shard string) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/"+layout.MetadataBlobPath(shard, "timestamp.json"), nil)
	if err != nil {
		return 0, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return 0, err
	}
	ts, err := tufmeta.Decode[metadata.TimestampType](data)
	if err != nil {
		return 0, err
	}
	return ts.Signed.Meta["snapshot.json"].Version, nil
}
