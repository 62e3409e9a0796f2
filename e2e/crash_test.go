package e2e

// Crash tests: the server is stopped, or killed with SIGKILL while it
// publishes, and started again on the same data directory. Whatever it
// serves afterwards must verify with an independent TUF client, every
// acknowledged upload must be there, and writes must keep working
// (DESIGN.md section 6: "a crash at any point leaves the published
// repository valid and the store consistent").

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
	"github.com/theupdateframework/go-tuf/v2/metadata/config"
	"github.com/theupdateframework/go-tuf/v2/metadata/fetcher"
	"github.com/theupdateframework/go-tuf/v2/metadata/updater"

	"hallmark.dev/hallmark/layout"
	"hallmark.dev/hallmark/signing"
	"hallmark.dev/hallmark/trust"
	"hallmark.dev/hallmark/tufmeta"
)

// TestCrashRestartKeepsEverything: after a graceful restart on the same
// data directory, every project and release is served unchanged, to users
// who pinned before and to new ones, and writes keep working.
func TestCrashRestartKeepsEverything(t *testing.T) {
	srv := StartServer(t)
	alice := NewMaintainer(t, srv, "alice")
	dir := t.TempDir()
	var projects []string
	var avoid []string
	for i := range 3 {
		n := nameInShard(t, fmt.Sprintf("keep%d", i), "", avoid...)
		avoid = append(avoid, projectShard(t, n))
		projects = append(projects, n)
	}
	content := map[string][]byte{} // "<project>@<version>" → the file's bytes
	for _, p := range projects {
		alice.MustRun("project", "create", p, "--key", "alice")
		for _, v := range []string{"1.0.0", "1.1.0"} {
			b := fmt.Appendf(nil, "%s %s: %x", p, v, sha256.Sum256([]byte(p+v)))
			content[p+"@"+v] = b
			alice.MustRun("release", "upload", p, v, WriteFile(t, dir, p+"-"+v+".tar.gz", b))
		}
	}
	bob := pinnedUser(t, srv, "")
	want := map[string]string{}
	for _, p := range projects {
		want[p] = bob.MustRun("versions", p).Stdout
		if want[p] != "1.1.0\n1.0.0\n" {
			t.Fatalf("%s: versions = %q", p, want[p])
		}
	}
	trustBefore := bob.MustRun("trust", srv.URL, "--yes").Stderr
	blobsBefore := captureRepoState(t, srv, bob, projects...)

	srv.Stop()
	srv.Start()

	// Nothing published changed: same files, same server view, same
	// verified state, same trust fingerprint.
	assertSameRepoState(t, blobsBefore, captureRepoState(t, srv, bob, projects...))
	carol := pinnedUser(t, srv, "")
	if got := carol.MustRun("trust", srv.URL, "--yes").Stderr; got != trustBefore {
		t.Fatalf("the trust summary changed across the restart:\n%s\n---\n%s", trustBefore, got)
	}
	for _, u := range []*User{bob, carol} {
		for _, p := range projects {
			if got := u.MustRun("versions", p).Stdout; got != want[p] {
				t.Fatalf("%s after restart: versions = %q, want %q", p, got, want[p])
			}
			for _, v := range []string{"1.0.0", "1.1.0"} {
				out := t.TempDir()
				u.MustRun("get", p+"@"+v, "-o", out)
				got, err := os.ReadFile(filepath.Join(out, p+"-"+v+".tar.gz"))
				if err != nil || !bytes.Equal(got, content[p+"@"+v]) {
					t.Fatalf("%s@%s after restart: %q, %v", p, v, got, err)
				}
			}
		}
	}
	// Writes keep working, and build on the state from before the restart.
	alice.MustRun("release", "upload", projects[0], "2.0.0", WriteFile(t, dir, "after-2.0.0.tar.gz", []byte("after restart")))
	if got := carol.MustRun("versions", projects[0]).Stdout; got != "2.0.0\n1.1.0\n1.0.0\n" {
		t.Fatalf("after restart and upload: versions = %q", got)
	}
	alice.MustRun("project", "create", "born-after-restart", "--key", "alice")
	bob.MustRun("versions", "born-after-restart")
}

// tufClient is an independent go-tuf client of one shard that trusts only
// the shard's initial root, checked against the repository's pin.
type tufClient struct {
	repo  string
	shard string
	root  []byte
	dir   string // metadata cache; kept across refreshes for an existing client
}

// initialRoots fetches every shard's first root and checks it against the
// repository's trust summary, as `hallmark trust` would.
func initialRoots(t testing.TB, srv *Server) (*trust.File, map[string][]byte) {
	t.Helper()
	get := func(u string) []byte {
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var buf bytes.Buffer
		buf.ReadFrom(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: HTTP %d", u, resp.StatusCode)
		}
		return buf.Bytes()
	}
	tf, err := trust.Parse(get(srv.URL + "/" + layout.TrustFile))
	if err != nil {
		t.Fatal(err)
	}
	roots := map[string][]byte{}
	for _, shard := range layout.ShardIDs(tf.Shards) {
		b := get(fmt.Sprintf("%s/metadata/%s/%d.root.json", srv.URL, shard, tf.RootVersion))
		if _, err := tf.CheckShardRoot(shard, b); err != nil {
			t.Fatal(err)
		}
		roots[shard] = b
	}
	return tf, roots
}

// refresh builds a new go-tuf updater (an updater refreshes once) and
// refreshes the shard's top-level metadata. A client without a cache
// directory is a fresh one: it gets a new, empty cache under tmp.
func (c *tufClient) refresh(tmp string) (*updater.Updater, error) {
	dir := c.dir
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp(tmp, "fresh-"); err != nil {
			return nil, err
		}
	}
	cfg, err := config.New(c.repo+"/metadata/"+c.shard+"/", c.root)
	if err != nil {
		return nil, err
	}
	cfg.LocalMetadataDir = filepath.Join(dir, "metadata")
	cfg.LocalTargetsDir = filepath.Join(dir, "targets")
	cfg.RemoteTargetsURL = c.repo + "/targets/"
	cfg.PrefixTargetsWithHash = true
	cfg.Fetcher = fetcher.NewDefaultFetcher()
	if err := cfg.EnsurePathsExist(); err != nil {
		return nil, err
	}
	up, err := updater.New(cfg)
	if err != nil {
		return nil, err
	}
	return up, up.Refresh()
}

// download fetches and verifies one target with go-tuf.
func download(t testing.TB, up *updater.Updater, target string) ([]byte, error) {
	t.Helper()
	tf, err := up.GetTargetInfo(target)
	if err != nil {
		return nil, err
	}
	_, data, err := up.DownloadTarget(tf, filepath.Join(t.TempDir(), "target"), "")
	return data, err
}

// uploads records what the uploaders tried and what the server acknowledged.
type uploads struct {
	mu    sync.Mutex
	tried map[string]map[string][]byte // project → version → file content
	acked map[string][]string          // project → acknowledged versions
	noted map[string]bool              // unacknowledged but published, already logged
}

func (u *uploads) try(project, version string, content []byte) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.tried[project] == nil {
		u.tried[project] = map[string][]byte{}
	}
	u.tried[project][version] = content
}

func (u *uploads) ack(project, version string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.acked[project] = append(u.acked[project], version)
}

// runCLI runs the hallmark CLI as u, for goroutines: it never calls t.Fatal.
func runCLI(u *User, args ...string) (code int, stderr string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = append(os.Environ(), u.Env...)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	err = cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), errb.String(), nil
	}
	return 0, errb.String(), err
}

// TestCrashKillDuringPublish: concurrent uploaders (the CLI and the HTTP
// API) run while the server is killed with SIGKILL at different moments.
// After each restart the repository verifies with go-tuf, for fresh clients
// and for clients that saw it before the crash (nothing rolled back), every
// acknowledged upload is there and downloads, anything else that is served
// is exactly what was uploaded, and uploads keep working.
func TestCrashKillDuringPublish(t *testing.T) { crashKillDuringPublish(t, StartServer(t), false) }

// TestCrashKillPublisherStandbyTakesOver: the same trial on PostgreSQL,
// where the killed server is not restarted: a standby (`serve --standby`
// on the same database, started before each round) takes over.
func TestCrashKillPublisherStandbyTakesOver(t *testing.T) {
	_, s3 := backend(t)
	srv := newServerOn(t, true, s3)
	srv.Start()
	crashKillDuringPublish(t, srv, true)
}

// crashKillDuringPublish runs the trial on srv: after each kill, srv is
// restarted, or its standby takes over.
func crashKillDuringPublish(t *testing.T, srv *Server, standby bool) {
	tf, roots := initialRoots(t, srv)
	observer := pinnedUser(t, srv, "")

	// Five maintainers with a project each: two projects share a shard, so
	// their changes are published in the same batches.
	type uploader struct {
		user    *User
		key     string
		signer  *signing.Key
		project string
		cli     bool
	}
	first := nameInShard(t, "crash-a", "")
	shared := projectShard(t, first)
	names := []string{first, nameInShard(t, "crash-b", shared)}
	avoid := []string{shared}
	for _, prefix := range []string{"crash-c", "crash-d", "crash-e"} {
		n := nameInShard(t, prefix, "", avoid...)
		avoid = append(avoid, projectShard(t, n))
		names = append(names, n)
	}
	var ups []*uploader
	var busy []string // the shards the uploads go to
	for i, n := range names {
		key := fmt.Sprintf("m%d", i)
		u := NewMaintainer(t, srv, key)
		u.MustRun("project", "create", n, "--key", key)
		if s := projectShard(t, n); !slices.Contains(busy, s) {
			busy = append(busy, s)
		}
		ups = append(ups, &uploader{user: u, key: key, signer: loadUserKey(t, u, key), project: n, cli: i%2 == 1})
	}

	// Existing go-tuf clients, one per shard, keep their caches across
	// crashes: a restart must never roll back what they have seen.
	existing := map[string]*tufClient{}
	for shard, root := range roots {
		existing[shard] = &tufClient{repo: srv.URL, shard: shard, root: root, dir: t.TempDir()}
		if _, err := existing[shard].refresh(""); err != nil {
			t.Fatalf("shard %s before any crash: %v", shard, err)
		}
	}

	rec := &uploads{tried: map[string]map[string][]byte{}, acked: map[string][]string{}, noted: map[string]bool{}}
	rng := rand.New(rand.NewPCG(1, 2))
	bytesSource := rand.NewChaCha8([32]byte{1})
	dir := t.TempDir()
	hc := &http.Client{Timeout: time.Minute}
	delays := []time.Duration{0, 40 * time.Millisecond, 120 * time.Millisecond, 300 * time.Millisecond, 700 * time.Millisecond}
	for round, delay := range delays {
		// Contents are drawn before the goroutines start, so the test is
		// deterministic apart from scheduling.
		type job struct {
			version string
			content []byte
		}
		jobs := map[string][]job{}
		for _, up := range ups {
			for i := range 40 {
				c := make([]byte, 1<<10+rng.IntN(96<<10))
				bytesSource.Read(c)
				jobs[up.project] = append(jobs[up.project], job{fmt.Sprintf("%d.%d.0", round+1, i), c})
			}
		}
		// Clients that already saw the busy shards refresh them all the
		// time while the uploads run: whatever they see while the server is
		// up must verify, and after the crash nothing they saw may be rolled
		// back. (Errors while the server dies are network errors, not
		// verification errors.)
		if standby {
			srv.StartStandby()
		}
		stopPolling := make(chan struct{})
		pollErr := make(chan error, 1)
		go func() {
			defer close(pollErr)
			for i := 0; i < 100000; i++ {
				select {
				case <-stopPolling:
					return
				default:
				}
				for _, shard := range busy {
					if _, err := existing[shard].refresh(""); err != nil && errors.Is(err, &metadata.ErrRepository{}) {
						pollErr <- fmt.Errorf("shard %s, during the uploads: %w", shard, err)
						return
					}
				}
			}
		}()
		var wg sync.WaitGroup
		started := make(chan struct{}, len(ups))
		for _, up := range ups {
			wg.Add(1)
			go func() {
				defer wg.Done()
				signalled := false
				signal := func() {
					if !signalled {
						signalled = true
						started <- struct{}{}
					}
				}
				defer signal()
				for _, j := range jobs[up.project] {
					rec.try(up.project, j.version, j.content)
					var ok bool
					if up.cli {
						file := filepath.Join(dir, fmt.Sprintf("%s-%s.tar.gz", up.project, j.version))
						if err := os.WriteFile(file, j.content, 0o644); err != nil {
							return
						}
						code, _, err := runCLI(up.user, "release", "upload", up.project, j.version, file, "--key", up.key)
						ok = err == nil && code == 0
					} else {
						ok = apiUpload(up.user, up.signer, hc, srv.URL, up.project, j.version, j.content)
					}
					signal()
					if !ok {
						return // the server is gone: this upload is not acknowledged
					}
					rec.ack(up.project, j.version)
				}
			}()
		}
		// Kill once every uploader has finished its first attempt, plus a
		// different delay each round, so the kill lands at different points
		// of publishing.
		for range ups {
			<-started
		}
		time.Sleep(delay)
		srv.Kill()
		wg.Wait()
		close(stopPolling)
		if err := <-pollErr; err != nil {
			t.Fatalf("round %d: a client refreshing while the server published saw metadata that does not verify: %v", round, err)
		}
		stamps := map[string][]byte{}
		for shard := range roots {
			stamps[shard], _ = os.ReadFile(srv.BlobPath(layout.MetadataBlobPath(shard, "timestamp.json")))
		}
		if standby {
			t.Logf("round %d: the standby served %v after the kill", round, srv.AwaitTakeOver().Round(time.Millisecond))
		} else {
			srv.Start()
		}
		for shard, old := range stamps {
			if now, _ := os.ReadFile(srv.BlobPath(layout.MetadataBlobPath(shard, "timestamp.json"))); !bytes.Equal(old, now) {
				t.Logf("round %d: the restart repaired the timestamp of shard %s (killed between commit and timestamp)", round, shard)
			}
		}
		verifyAfterCrash(t, srv, tf, roots, existing, observer, rec, round)
	}

	// Writes still work after the last crash, through the CLI and the API.
	for _, up := range ups {
		v := "99.0.0"
		content := []byte(up.project + " after the crashes")
		rec.try(up.project, v, content)
		if up.cli {
			up.user.MustRun("release", "upload", up.project, v, WriteFile(t, dir, up.project+"-"+v+".tar.gz", content), "--key", up.key)
		} else if !apiUpload(up.user, up.signer, hc, srv.URL, up.project, v, content) {
			t.Fatalf("%s: upload after the crashes failed", up.project)
		}
		rec.ack(up.project, v)
	}
	verifyAfterCrash(t, srv, tf, roots, existing, observer, rec, len(delays))
	total := 0
	for _, vs := range rec.acked {
		total += len(vs)
	}
	t.Logf("%d acknowledged uploads over %d crashes", total, len(delays))
}

// apiUpload uploads one release through the HTTP API as user u, building
// and signing the releases role from the verified state like the CLI does.
// It reports whether the server acknowledged it as published.
func apiUpload(u *User, key *signing.Key, hc *http.Client, base, project, version string, content []byte) bool {
	r, err := buildRelease(context.Background(), u, project, version, map[string][]byte{project + "-" + version + ".tar.gz": content})
	if err != nil {
		return false
	}
	if err := tufmeta.Sign(r.role, key); err != nil {
		return false
	}
	req, err := r.encode()
	if err != nil {
		return false
	}
	status, _, err := postWrite(hc, base, req)
	return err == nil && status == http.StatusOK
}

// verifyAfterCrash checks the repository served after a restart.
func verifyAfterCrash(t *testing.T, srv *Server, tf *trust.File, roots map[string][]byte, existing map[string]*tufClient, observer *User, rec *uploads, round int) {
	t.Helper()
	// Every shard refreshes, for a fresh client and an existing one.
	fresh := map[string]*updater.Updater{}
	for _, shard := range layout.ShardIDs(tf.Shards) {
		up, err := (&tufClient{repo: srv.URL, shard: shard, root: roots[shard]}).refresh(t.TempDir())
		if err != nil {
			t.Fatalf("round %d: shard %s does not verify for a fresh go-tuf client: %v", round, shard, err)
		}
		fresh[shard] = up
		old, err := existing[shard].refresh("")
		if err != nil {
			t.Fatalf("round %d: shard %s does not verify for a go-tuf client that saw it before the crash: %v", round, shard, err)
		}
		if v, w := old.GetTrustedMetadataSet().Snapshot.Signed.Version, up.GetTrustedMetadataSet().Snapshot.Signed.Version; v != w {
			t.Fatalf("round %d: shard %s: existing client at snapshot %d, fresh client at %d", round, shard, v, w)
		}
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, project := range slices.Sorted(maps.Keys(rec.tried)) {
		up := fresh[projectShard(t, project)]
		raw, err := download(t, up, layout.IndexPath(project))
		if err != nil {
			t.Fatalf("round %d: %s: index does not verify: %v", round, project, err)
		}
		ix, err := layout.ParseIndex(raw)
		if err != nil {
			t.Fatalf("round %d: %s: %v", round, project, err)
		}
		for _, v := range rec.acked[project] {
			if _, ok := ix.Release(v); !ok {
				t.Fatalf("round %d: acknowledged upload %s %s is missing after the crash", round, project, v)
			}
		}
		// Whatever is served, acknowledged or not, is exactly what was
		// uploaded, and downloads with go-tuf.
		for _, rel := range ix.Releases {
			want, ok := rec.tried[project][rel.Version]
			if !ok {
				t.Fatalf("round %d: %s %s is served but was never uploaded", round, project, rel.Version)
			}
			if len(rel.Files) != 1 {
				t.Fatalf("round %d: %s %s has files %v", round, project, rel.Version, rel.Files)
			}
			got, err := download(t, up, layout.FilePath(project, rel.Version, rel.Files[0].Name))
			if err != nil || !bytes.Equal(got, want) {
				sum := sha256.Sum256(got)
				t.Fatalf("round %d: %s %s: download %v (sha256 %s)", round, project, rel.Version, err, hex.EncodeToString(sum[:8]))
			}
		}
		for _, rel := range ix.Releases {
			if !slices.Contains(rec.acked[project], rel.Version) && !rec.noted[project+"@"+rel.Version] {
				rec.noted[project+"@"+rel.Version] = true
				t.Logf("round %d: %s %s was published although its upload was not acknowledged", round, project, rel.Version)
			}
		}
		// The hallmark client of a user who pinned before the crashes agrees.
		listed := strings.Fields(observer.MustRun("versions", project).Stdout)
		for _, v := range rec.acked[project] {
			if !slices.Contains(listed, v) {
				t.Fatalf("round %d: hallmark versions %s does not list acknowledged %s: %v", round, project, v, listed)
			}
		}
		if len(listed) != len(ix.Releases) {
			t.Fatalf("round %d: hallmark versions %s lists %d versions; go-tuf sees %d", round, project, len(listed), len(ix.Releases))
		}
	}
}
