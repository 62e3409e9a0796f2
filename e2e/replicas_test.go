package e2e

// Several `hallmark serve` replicas on one PostgreSQL database and one
// bucket: every replica accepts writes; each shard is published by the
// holder of its lease; the others forward writes to it through the
// database; when the holder is killed, another replica takes over.

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"hallmark.dev/hallmark/layout"
	"hallmark.dev/hallmark/server"
	"hallmark.dev/hallmark/signing"
	"hallmark.dev/hallmark/store/postgres"
	"hallmark.dev/hallmark/trust"
)

// needReplicas skips a test of several replicas unless the servers run on
// PostgreSQL and S3 (replicas share a bucket).
func needReplicas(t testing.TB) {
	t.Helper()
	if pg, s3 := backend(t); !pg || !s3 {
		t.Skipf("replicas share a database and a bucket; this test runs with %s=postgres+s3", backendEnv)
	}
}

// newReplica returns a replica of first, not started: a copy of its data
// directory, its database and bucket, its own address.
func newReplica(t testing.TB, first *Server) *Server {
	t.Helper()
	r := &Server{t: t, Data: filepath.Join(t.TempDir(), "data"), Addr: freeAddr(t), Database: first.Database,
		Blobs: first.Blobs, Bucket: first.Bucket, stores: first.stores, env: first.env}
	r.URL = "http://" + r.Addr
	t.Cleanup(r.Stop)
	if err := os.CopyFS(r.Data, os.DirFS(first.Data)); err != nil {
		t.Fatal(err)
	}
	return r
}

// leaseHolder returns the process id of the replica publishing a shard,
// from PostgreSQL's view of its advisory locks (0 when none holds it).
func leaseHolder(t testing.TB, database, shard string) int {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), database)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	n, _ := strconv.ParseUint(shard, 16, 32)
	var name string
	err = conn.QueryRow(context.Background(), fmt.Sprintf(`SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
		WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2 AND l.classid = %d AND l.objid = %d`,
		0x68616c6c, n%postgres.ShardSlots)).Scan(&name)
	if err == pgx.ErrNoRows {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimPrefix(strings.SplitN(name, "@", 2)[0], "hallmark serve "))
	if err != nil {
		t.Fatalf("lease holder %q: %v", name, err)
	}
	return pid
}

// TestReplicasShareOneDatabase: two replicas both accept writes and answer
// them as one server would; each shard has one publisher; a ceremony
// published through one replica reaches the other within the stated
// bound; a standby waits while replicas run and takes over when none does.
func TestReplicasShareOneDatabase(t *testing.T) {
	needReplicas(t)
	_, s3 := backend(t)
	a := newServerOn(t, true, s3)
	a.Start()
	b := newReplica(t, a)
	b.Start()

	alice := NewMaintainer(t, a, "alice")
	alice.MustRun("trust", b.URL, "--yes")
	via := func(u *User, s *Server) *User {
		c := *u
		c.Repo = s.URL
		c.Env = append(slices.Clone(u.Env), "HALLMARK_REPO="+s.URL)
		return &c
	}
	// Projects in different shards, created and released through both
	// replicas in turn: every write is answered as by one server.
	var projects []string
	var avoid []string
	for i := range 4 {
		n := nameInShard(t, fmt.Sprintf("rep%d", i), "", avoid...)
		avoid = append(avoid, projectShard(t, n))
		projects = append(projects, n)
	}
	dir := t.TempDir()
	replicas := []*Server{a, b}
	for i, p := range projects {
		u := via(alice, replicas[i%2])
		u.MustRun("project", "create", p, "--key", "alice")
		u.MustFail("exists already", "project", "create", p, "--key", "alice")
		for j, v := range []string{"1.0.0", "1.1.0"} {
			w := via(alice, replicas[(i+j+1)%2])
			w.MustRun("release", "upload", p, v, WriteFile(t, dir, p+"-"+v+".tar.gz", []byte(p+" "+v)), "--key", "alice")
		}
	}
	for _, s := range replicas {
		for _, p := range projects {
			if got := via(alice, s).MustRun("versions", p).Stdout; got != "1.1.0\n1.0.0\n" {
				t.Fatalf("%s through %s: versions = %q", p, s.URL, got)
			}
		}
	}
	// One publisher per shard: the lease of each busy shard is held by one
	// of the two replicas. Each project had writes through both, so the
	// other one forwarded its writes to the holder, and they were answered.
	pids := []int{a.cmd.Process.Pid, b.cmd.Process.Pid}
	for _, p := range projects {
		if h := leaseHolder(t, a.Database, projectShard(t, p)); !slices.Contains(pids, h) {
			t.Fatalf("shard %s is published by process %d, not a replica (%v)", projectShard(t, p), h, pids)
		}
	}
	// Every shard verifies for go-tuf through either replica.
	tf, roots := initialRoots(t, a)
	for _, s := range replicas {
		for _, shard := range layout.ShardIDs(tf.Shards) {
			if _, err := (&tufClient{repo: s.URL, shard: shard, root: roots[shard]}).refresh(t.TempDir()); err != nil {
				t.Fatalf("shard %s through %s: %v", shard, s.URL, err)
			}
		}
	}

	// A block published through a reaches b's cache of blocked projects
	// within server.RefreshEvery (plus a query): b answers 410 Gone.
	admin := NewUser(t, a)
	admin.MustRun("trust", a.URL, "--yes")
	file := "targets/" + projects[1] + "/"
	resp, err := http.Get(b.URL + "/metadata/" + projectShard(t, projects[1]) + "/1." + layout.OwnersRole(projects[1]) + ".json")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("before the block: %v %v", resp, err)
	}
	resp.Body.Close()
	admin.MustRun("admin", "block", projects[1], "--reason", "malware", "--keys", filepath.Join(a.Data, server.DevKeysDir), "--yes")
	blocked := time.Now()
	bound := server.RefreshEvery + 2*time.Second // the refresh, a query, and a busy shared machine
	for {
		resp, err := http.Get(b.URL + "/metadata/" + projectShard(t, projects[1]) + "/1." + layout.OwnersRole(projects[1]) + ".json")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusGone {
				break
			}
		}
		if time.Since(blocked) > bound {
			t.Fatalf("replica b still serves %s%s %v after the block published through a (bound %v)", file, "…", time.Since(blocked), bound)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("the block reached the other replica after %v (bound %v)", time.Since(blocked).Round(time.Millisecond), server.RefreshEvery)

	// Unblocked through a, the project is served by b at once: an admin
	// told "unblocked" and a user who then downloads must not get 410
	// from a replica that has not re-read its blocked set yet.
	admin.MustRun("admin", "unblock", projects[1], "--keys", filepath.Join(a.Data, server.DevKeysDir), "--yes")
	resp, err = http.Get(b.URL + "/metadata/" + projectShard(t, projects[1]) + "/1." + layout.OwnersRole(projects[1]) + ".json")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("replica b, just after the unblock published through a: %v %v; want 200", resp, err)
	}
	resp.Body.Close()

	// A standby waits while a replica runs, and starts when none does.
	b.Stop()
	standby := newReplica(t, a)
	standby.cmd = standby.command("serve", "--dev", "--data", standby.Data, "--addr", standby.Addr, "--standby")
	if err := standby.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	healthy := func() bool {
		resp, err := http.Get(standby.URL + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}
	time.Sleep(2 * time.Second)
	if healthy() || !strings.Contains(standby.Log(), "standing by") {
		t.Fatalf("the standby serves, or does not say it stands by, while a replica runs:\n%s", standby.Log())
	}
	a.Kill()
	killed := time.Now()
	for !healthy() {
		if time.Since(killed) > 30*time.Second {
			t.Fatalf("the standby did not take over within 30s:\n%s", standby.Log())
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("the standby served %v after the last replica was killed", time.Since(killed).Round(time.Millisecond))
	u := via(alice, standby)
	u.MustRun("trust", standby.URL, "--yes")
	u.MustRun("release", "upload", projects[0], "2.0.0", WriteFile(t, dir, "after.tar.gz", []byte("after")), "--key", "alice")
}

// TestCrashKillPublishingReplica: clients upload through two replicas
// while the replica publishing their shards is killed with SIGKILL, three
// times (restarted after each); the other publishes on.
// HALLMARK_CRASH_TRIAL=N runs the full trial instead (TestCrashTrial).
func TestCrashKillPublishingReplica(t *testing.T) {
	needReplicas(t)
	crashTrial(t, 3, 6)
}

// TestCrashTrial is the crash trial of docs/benchmarks.md, opt-in:
// HALLMARK_CRASH_TRIAL=N kills the publishing server N times at random
// moments while 16 clients upload. On PostgreSQL + S3 two replicas run and
// the survivor publishes on while the killed one restarts; on SQLite the
// one server restarts.
func TestCrashTrial(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("HALLMARK_CRASH_TRIAL"))
	if n <= 0 {
		t.Skip("set HALLMARK_CRASH_TRIAL=N (e.g. 100) to kill the publishing server N times")
	}
	crashTrial(t, n, 16)
}

// crashTrial kills the publishing server kills times while clients
// upload, and checks after every tenth kill and at the end that every
// shard verifies with go-tuf from the pinned root (for a fresh client
// and for one that saw it before), every acknowledged upload is there,
// nothing is published twice and every file has the content uploaded.
func crashTrial(t *testing.T, kills, clients int) {
	pg, s3 := backend(t)
	first := newServerOn(t, pg, s3)
	first.Start()
	servers := []*Server{first}
	if pg && s3 {
		second := newReplica(t, first)
		second.Start()
		servers = append(servers, second)
	}
	tf, roots := initialRoots(t, first)
	observer := pinnedUser(t, first, "")
	for _, s := range servers[1:] {
		observer.MustRun("trust", s.URL, "--yes")
	}
	type client struct {
		users   []*User // one per server, sharing a home
		signer  *signing.Key
		project string
	}
	var cls []*client
	for i := range clients {
		key := fmt.Sprintf("c%d", i)
		u := NewMaintainer(t, first, key)
		c := &client{signer: loadUserKey(t, u, key), project: nameInShard(t, fmt.Sprintf("trial%d", i), "")}
		c.users = throughEvery(u, servers)
		c.users[i%len(servers)].MustRun("project", "create", c.project, "--key", key)
		cls = append(cls, c)
	}
	existing := map[string]*tufClient{}
	for shard, root := range roots {
		existing[shard] = &tufClient{repo: first.URL, shard: shard, root: root, dir: t.TempDir()}
		if _, err := existing[shard].refresh(""); err != nil {
			t.Fatalf("shard %s before any crash: %v", shard, err)
		}
	}

	var mu sync.Mutex
	live := map[int]bool{}
	for i := range servers {
		live[i] = true
	}
	rec := &uploads{tried: map[string]map[string][]byte{}, acked: map[string][]string{}, noted: map[string]bool{}}
	var lastAcked time.Time // the latest start of an acknowledged upload
	// Uploads hold gate for reading; a check in the middle of the trial
	// holds it for writing, so nothing is acknowledged while it looks.
	var gate sync.RWMutex
	stop := make(chan struct{})
	var wg sync.WaitGroup
	hc := &http.Client{Timeout: time.Minute}
	for i, c := range cls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(i), 7))
			for n := 1; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				mu.Lock()
				var up []int
				for j := range servers {
					if live[j] {
						up = append(up, j)
					}
				}
				mu.Unlock()
				if len(up) == 0 {
					time.Sleep(50 * time.Millisecond)
					continue
				}
				j := up[rng.IntN(len(up))]
				u := c.users[j]
				version := fmt.Sprintf("%d.0.0", n)
				content := make([]byte, 256+rng.IntN(16<<10))
				for k := range content {
					content[k] = byte(rng.Uint32())
				}
				gate.RLock()
				began := time.Now()
				rec.try(c.project, version, content)
				ok := apiUpload(u, c.signer, hc, u.Repo, c.project, version, content)
				if ok {
					rec.ack(c.project, version)
					mu.Lock()
					if began.After(lastAcked) {
						lastAcked = began
					}
					mu.Unlock()
				}
				gate.RUnlock()
				if !ok {
					time.Sleep(50 * time.Millisecond)
				}
			}
		}()
	}
	// publishedSince reports whether an upload begun after t was
	// acknowledged.
	publishedSince := func(t time.Time) bool {
		mu.Lock()
		defer mu.Unlock()
		return lastAcked.After(t)
	}
	rng := rand.New(rand.NewPCG(42, 42))
	busy := projectShard(t, cls[0].project)
	start := time.Now()
	var takeovers []time.Duration
	for k := range kills {
		time.Sleep(time.Duration(100+rng.IntN(900)) * time.Millisecond)
		// The victim: the replica holding the busy shard's lease (on
		// SQLite, the server).
		victim := 0
		if len(servers) > 1 {
			pid := leaseHolder(t, first.Database, busy)
			for j, s := range servers {
				if s.cmd != nil && s.cmd.Process.Pid == pid {
					victim = j
				}
			}
		}
		servers[victim].Kill()
		killed := time.Now()
		mu.Lock()
		live[victim] = false
		mu.Unlock()
		if len(servers) > 1 {
			// The survivor publishes on before the killed one is back.
			for !publishedSince(killed) {
				if time.Since(killed) > time.Minute {
					t.Fatalf("kill %d: no upload was published in the minute after the publishing replica was killed", k+1)
				}
				time.Sleep(10 * time.Millisecond)
			}
			takeovers = append(takeovers, time.Since(killed))
		}
		servers[victim].Start()
		mu.Lock()
		live[victim] = true
		mu.Unlock()
		if len(servers) == 1 {
			for !publishedSince(killed) {
				if time.Since(killed) > time.Minute {
					t.Fatalf("kill %d: no upload was published in the minute after the restart", k+1)
				}
				time.Sleep(10 * time.Millisecond)
			}
			takeovers = append(takeovers, time.Since(killed))
		}
		if (k+1)%10 == 0 || k+1 == kills {
			gate.Lock()
			verifyTrial(t, servers, servers[(victim+1)%len(servers)], tf, roots, existing, observer, rec, k+1)
			gate.Unlock()
		}
	}
	close(stop)
	wg.Wait()
	verifyTrial(t, servers, servers[0], tf, roots, existing, observer, rec, kills)
	total := 0
	for _, vs := range rec.acked {
		total += len(vs)
	}
	slices.Sort(takeovers)
	t.Logf("%d kills in %v: %d acknowledged uploads, 0 lost, 0 duplicates, every shard verifies; first upload sent after a kill and published: median %v, max %v",
		kills, time.Since(start).Round(time.Second), total, takeovers[len(takeovers)/2].Round(time.Millisecond), takeovers[len(takeovers)-1].Round(time.Millisecond))
}

// verifyTrial runs verifyAfterCrash through srv, and checks that no
// version is published twice.
func verifyTrial(t *testing.T, servers []*Server, srv *Server, tf *trust.File, roots map[string][]byte, existing map[string]*tufClient, observer *User, rec *uploads, round int) {
	t.Helper()
	// An upload published while the development witness was down (it
	// runs beside the replica that was killed, until the survivor starts
	// it again) is acknowledged as published and waiting for the witness:
	// it is served once its shard catches up. Wait for that first.
	waitFor(t, time.Minute, "every shard's newest publication to be served", func() bool {
		for _, s := range servers {
			if metricValue(t, s, "hallmark_shards_behind") != 0 {
				return false
			}
		}
		return true
	})
	for _, c := range existing {
		c.repo = srv.URL
	}
	o := *observer
	o.Repo = srv.URL
	o.Env = append(slices.Clone(observer.Env), "HALLMARK_REPO="+srv.URL)
	verifyAfterCrash(t, srv, tf, roots, existing, &o, rec, round)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for project := range rec.tried {
		up, err := (&tufClient{repo: srv.URL, shard: projectShard(t, project), root: roots[projectShard(t, project)]}).refresh(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		raw, err := download(t, up, layout.IndexPath(project))
		if err != nil {
			t.Fatal(err)
		}
		ix, err := layout.ParseIndex(raw)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, rel := range ix.Releases {
			if seen[rel.Version] {
				t.Fatalf("after %d kills: %s %s is published twice", round, project, rel.Version)
			}
			seen[rel.Version] = true
		}
	}
}

// A replica started from another repository's data directory would sign
// with online keys no client accepts: it is refused, and says what to do.
func TestReplicaOfAnotherRepositoryIsRefused(t *testing.T) {
	needReplicas(t)
	_, s3 := backend(t)
	a := newServerOn(t, true, s3)
	a.Start()
	other := newServerOn(t, false, false)
	other.Start()
	other.Stop()
	stranger := newReplica(t, a)
	if err := os.RemoveAll(stranger.Data); err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(stranger.Data, os.DirFS(other.Data)); err != nil {
		t.Fatal(err)
	}
	cmd := stranger.command("serve", "--data", stranger.Data, "--addr", stranger.Addr)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		if err == nil {
			t.Fatalf("a replica with another repository's online keys ran:\n%s", stranger.Log())
		}
	case <-time.After(time.Minute):
		cmd.Process.Kill()
		t.Fatalf("a replica with another repository's online keys started:\n%s", stranger.Log())
	}
	if !strings.Contains(stranger.Log(), "online keys are not those of") || !strings.Contains(stranger.Log(), "give every replica a copy") {
		t.Fatalf("the refusal does not say why:\n%s", stranger.Log())
	}
	// a still publishes.
	u := NewMaintainer(t, a, "alice")
	u.MustRun("project", "create", "still-here", "--key", "alice")
}

// throughEvery is u as it talks to each of servers (the same keys and
// state, the repository address changed), each trusting its server.
func throughEvery(u *User, servers []*Server) []*User {
	var out []*User
	for _, s := range servers {
		v := *u
		v.Repo = s.URL
		v.Env = append(slices.Clone(u.Env), "HALLMARK_REPO="+s.URL)
		v.MustRun("trust", s.URL, "--yes")
		out = append(out, &v)
	}
	return out
}

// TestSuiteServersAreTwoReplicas: with HALLMARK_E2E_BACKEND=replicas the
// servers every other test starts are two replicas behind a balancer, and
// both take part: after a maintainer's commands (each a new connection),
// each replica has answered writes and reads of metadata.
func TestSuiteServersAreTwoReplicas(t *testing.T) {
	if !replicated() {
		t.Skipf("this checks the two-replica setup of %s=replicas", backendEnv)
	}
	srv := StartServer(t)
	if got := len(srv.Processes()); got != 2 {
		t.Fatalf("the server has %d processes, want 2", got)
	}
	alice := NewMaintainer(t, srv, "alice")
	alice.MustRun("project", "create", "both-replicas", "--key", "alice")
	dir := t.TempDir()
	for _, v := range []string{"1.0.0", "1.1.0", "1.2.0", "1.3.0"} {
		alice.MustRun("release", "upload", "both-replicas", v, WriteFile(t, dir, "both-"+v+".tar.gz", []byte(v)), "--key", "alice")
	}
	for _, p := range srv.Processes() {
		var writes, reads float64
		for _, line := range strings.Split(httpGet(t, p+"/metrics", 200), "\n") {
			if !strings.HasPrefix(line, "hallmark_http_requests_total{") {
				continue
			}
			f, _ := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
			switch {
			case strings.Contains(line, `route="POST /api/v1/projects`):
				writes += f
			case strings.Contains(line, `route="GET /metadata/"`):
				reads += f
			}
		}
		t.Logf("%s answered %v writes and %v metadata reads", p, writes, reads)
		if writes == 0 || reads == 0 {
			t.Errorf("replica %s answered %v writes and %v metadata reads; want both to take part", p, writes, reads)
		}
	}
}
