package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"hallmark.dev/hallmark/client"
	"hallmark.dev/hallmark/layout"
	"hallmark.dev/hallmark/server"
	"hallmark.dev/hallmark/tufmeta"
	"hallmark.dev/hallmark/validation"
)

// counter counts what a client downloads: response bodies of metadata and
// of targets, requests, and every byte on the wire (headers included).
type counter struct {
	meta, targets, reqs, wireIn, wireOut atomic.Int64
}

func (c *counter) reset() {
	c.meta.Store(0)
	c.targets.Store(0)
	c.reqs.Store(0)
	c.wireIn.Store(0)
	c.wireOut.Store(0)
}

// httpClient returns an HTTP client whose traffic c counts.
func (c *counter) httpClient() *http.Client {
	d := &net.Dialer{Timeout: 10 * time.Second}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			conn, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return &countConn{Conn: conn, c: c}, nil
		},
		MaxIdleConnsPerHost: 64,
		DisableCompression:  true,
	}
	return &http.Client{Transport: &countTransport{next: tr, c: c}, Timeout: 5 * time.Minute}
}

type countConn struct {
	net.Conn
	c *counter
}

func (k *countConn) Read(b []byte) (int, error) {
	n, err := k.Conn.Read(b)
	k.c.wireIn.Add(int64(n))
	return n, err
}

func (k *countConn) Write(b []byte) (int, error) {
	n, err := k.Conn.Write(b)
	k.c.wireOut.Add(int64(n))
	return n, err
}

type countTransport struct {
	next http.RoundTripper
	c    *counter
}

func (t *countTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	t.c.reqs.Add(1)
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	n := &t.c.meta
	if strings.Contains(req.URL.Path, "/targets/") {
		n = &t.c.targets
	}
	resp.Body = &countBody{ReadCloser: resp.Body, n: n}
	return resp, nil
}

type countBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b *countBody) Read(p []byte) (int, error) {
	k, err := b.ReadCloser.Read(p)
	b.n.Add(int64(k))
	return k, err
}

// clientResult is what one client operation downloaded.
type clientResult struct {
	Case        string  `json:"case"`
	MetaBytes   int64   `json:"meta_bytes"`
	TargetBytes int64   `json:"target_bytes"`
	Requests    int64   `json:"requests"`
	WireBytes   int64   `json:"wire_bytes"`
	Millis      float64 `json:"ms"`
	Error       string  `json:"error,omitempty"`
}

func (c *counter) result(name string, start time.Time, err error) clientResult {
	r := clientResult{Case: name, MetaBytes: c.meta.Load(), TargetBytes: c.targets.Load(), Requests: c.reqs.Load(),
		WireBytes: c.wireIn.Load() + c.wireOut.Load(), Millis: float64(time.Since(start).Microseconds()) / 1000}
	if err != nil {
		r.Error = err.Error()
	}
	return r
}

// Client cases, in the order they run.
const (
	caseFirst   = "first get"
	caseRefresh = "refresh, no change"
	caseUpload  = "refresh after 1 release in shard"
	caseCreate  = "refresh after 1 new project in shard"
)

// startServer serves the repository with server.New on 127.0.0.1.
func (r *benchRepo) startServer() (string, func(), error) {
	srv, err := server.New(server.Config{
		State: r.repo.State, Blobs: r.repo.Blobs, Publisher: r.repo.Publisher, Shards: r.shards,
		StagingDir: r.repo.StagingDir(), Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Policy: layout.DefaultPolicy(), SharedState: r.repo.Replicated,
	})
	if err != nil {
		return "", nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(ln)
	return "http://" + ln.Addr().String(), func() { hs.Close() }, nil
}

// shardShape is the size of each metadata file of one shard.
type shardShape struct {
	Shard            string `json:"shard"`
	ProjectsInShard  int    `json:"projects_in_shard"`
	Root, Timestamp  int    `json:"-"`
	Snapshot         int    `json:"snapshot"`
	Targets, Claimed int    `json:"-"`
	NewBin           int    `json:"new_bin"`
	OwnersRole       int    `json:"owners_role"`
	ReleasesRole     int    `json:"releases_role"`
}

// measureHallmark runs Hallmark's own client (package client) against the
// repository served on 127.0.0.1 and counts what it downloads.
func measureHallmark(ctx context.Context, r *benchRepo, work string) ([]clientResult, shardShape, error) {
	url, stop, err := r.startServer()
	if err != nil {
		return nil, shardShape{}, err
	}
	defer stop()
	target := r.names[r.built/2]
	shard := layout.ShardOf(target.Name, r.shards)
	other := -1
	for i := 0; i < r.built; i++ {
		if r.names[i].Name != target.Name && layout.ShardOf(r.names[i].Name, r.shards) == shard {
			other = i
			break
		}
	}
	shape, err := r.shape(ctx, shard, target.Name)
	if err != nil {
		return nil, shape, err
	}
	home, err := os.MkdirTemp(work, "client-home-")
	if err != nil {
		return nil, shape, err
	}
	defer os.RemoveAll(home)
	cnt := &counter{}
	opts := client.Options{Repo: url, Home: home, HTTP: cnt.httpClient()}
	_, data, err := client.FetchTrust(ctx, opts)
	if err != nil {
		return nil, shape, err
	}
	if err := client.Pin(opts, data); err != nil {
		return nil, shape, err
	}
	c, err := client.Open(opts)
	if err != nil {
		return nil, shape, err
	}
	file := baseName(firstFile(target.Name, "1.0.0"))
	get := func(download bool) error {
		p, err := c.Project(ctx, target.Name)
		if err != nil {
			return err
		}
		if !download {
			return nil
		}
		return c.Download(ctx, p, "1.0.0", file, filepath.Join(home, "dl", file), nil)
	}
	var out []clientResult
	run := func(name string, download bool) {
		cnt.reset()
		t := time.Now()
		err := get(download)
		out = append(out, cnt.result(name, t, err))
	}
	run(caseFirst, true)
	run(caseRefresh, false)
	if other >= 0 {
		if err := r.uploadRelease(ctx, other); err != nil {
			return out, shape, fmt.Errorf("upload in shard %s: %w", shard, err)
		}
		run(caseUpload, false)
	}
	if err := r.createExtra(ctx, shard); err != nil {
		return out, shape, fmt.Errorf("create in shard %s: %w", shard, err)
	}
	run(caseCreate, false)
	return out, shape, nil
}

func firstFile(project, version string) string {
	for p := range releaseFiles(project, version) {
		if strings.HasSuffix(p, ".tar.gz") {
			return p
		}
	}
	return ""
}

func (r *benchRepo) shape(ctx context.Context, shard, project string) (shardShape, error) {
	s := shardShape{Shard: shard}
	size := func(role string) (int, error) {
		rf, err := r.repo.State.Role(ctx, shard, role)
		return len(rf.Data), err
	}
	var err error
	for _, f := range []struct {
		role string
		dst  *int
	}{
		{layout.RoleRoot, &s.Root}, {layout.RoleTimestamp, &s.Timestamp}, {layout.RoleSnapshot, &s.Snapshot},
		{layout.RoleTargets, &s.Targets}, {layout.ClaimedRole(shard), &s.Claimed}, {layout.NewRole(shard), &s.NewBin},
		{layout.OwnersRole(project), &s.OwnersRole}, {layout.ReleasesRole(project), &s.ReleasesRole},
	} {
		if *f.dst, err = size(f.role); err != nil {
			return s, fmt.Errorf("%s: %w", f.role, err)
		}
	}
	rf, err := r.repo.State.Role(ctx, shard, layout.NewRole(shard))
	if err != nil {
		return s, err
	}
	bin, err := tufmeta.Decode[metadata.TargetsType](rf.Data)
	if err != nil {
		return s, err
	}
	if bin.Signed.Delegations != nil {
		s.ProjectsInShard = len(bin.Signed.Delegations.Roles)
	}
	return s, nil
}

// current returns a project's published releases role and index.
func (r *benchRepo) current(ctx context.Context, project string) (*tufmeta.Targets, *layout.Index, error) {
	shard := layout.ShardOf(project, r.shards)
	rf, err := r.repo.State.Role(ctx, shard, layout.ReleasesRole(project))
	if err != nil {
		return nil, nil, err
	}
	rel, err := tufmeta.Decode[metadata.TargetsType](rf.Data)
	if err != nil {
		return nil, nil, err
	}
	tf := rel.Signed.Targets[layout.IndexPath(project)]
	sum, err := validation.SHA256Of(tf.Hashes)
	if err != nil {
		return nil, nil, err
	}
	b, err := r.repo.Blobs.Open(ctx, "targets/"+layout.TargetBlobPath(layout.IndexPath(project), sum))
	if err != nil {
		return nil, nil, err
	}
	defer b.Close()
	data, err := io.ReadAll(b)
	if err != nil {
		return nil, nil, err
	}
	ix, err := layout.ParseIndex(data)
	return rel, ix, err
}

// nextRelease builds the signed change that adds the next release to
// project i.
func (r *benchRepo) nextRelease(ctx context.Context, i int) (*signedChange, error) {
	p := r.names[i]
	seed, err := r.seed(i)
	if err != nil {
		return nil, err
	}
	rel, ix, err := r.current(ctx, p.Name)
	if err != nil {
		return nil, err
	}
	version := fmt.Sprintf("1.0.%d", len(ix.Releases))
	return releaseChange(p, devKey(p, seed), rel, ix, version, layout.DefaultPolicy(), time.Now())
}

func (r *benchRepo) submit(ctx context.Context, c *signedChange) error {
	res, err := r.repo.Publisher.Submit(ctx, c.publishChange())
	if err != nil {
		return err
	}
	if res.Outcome != validation.Accept {
		return fmt.Errorf("%v: %v", res.Outcome, res.Reason)
	}
	return nil
}

// uploadRelease publishes the next release of project i.
func (r *benchRepo) uploadRelease(ctx context.Context, i int) error {
	c, err := r.nextRelease(ctx, i)
	if err != nil {
		return err
	}
	return r.submit(ctx, c)
}

// createExtra creates one more project in the shard, named outside the
// name list ("bench-extra-…").
func (r *benchRepo) createExtra(ctx context.Context, shard string) error {
	for k := 0; k < 1_000_000; k++ {
		name := fmt.Sprintf("bench-extra-%d-%d", time.Now().UnixNano()%1_000_000, k)
		if layout.ShardOf(name, r.shards) != shard {
			continue
		}
		p := projectName{Display: name, Name: name}
		c, err := createChange(p, devKey(p, newSeed()), layout.DefaultPolicy(), time.Now())
		if err != nil {
			return err
		}
		return r.submit(ctx, c)
	}
	return fmt.Errorf("no name found for shard %s", shard)
}
