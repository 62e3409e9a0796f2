// Package e2e drives the real hallmark binary against a real `hallmark
// serve` process, as a user would. TestMain builds the binary once.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"hallmark.dev/hallmark/internal/pgtest"
	"hallmark.dev/hallmark/internal/s3test"
)

// binary is the hallmark binary built for this test run.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "hallmark-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "hallmark")
	build := exec.Command("go", "build", "-o", binary, "../cmd/hallmark")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building hallmark:", err)
		os.Exit(1)
	}
	code := m.Run()
	pgtest.StopShared()
	s3test.StopShared()
	os.RemoveAll(dir)
	os.Exit(code)
}

// backendEnv picks the stores behind the servers of a test run:
//
//	sqlite       (the default) SQLite and a blob directory in the data directory
//	postgres     a database of a throwaway PostgreSQL cluster; blobs in the data directory
//	postgres+s3  PostgreSQL, and a bucket of a throwaway versitygw for the blobs
//	replicas     PostgreSQL and S3 as above, with two replicas behind a
//	             balancer: each server a test starts is two `hallmark serve`
//	             processes on one database and bucket, and its URL hands each
//	             connection to the next of them (see balancer)
//
// .ci/run runs the suite on sqlite and on replicas.
const backendEnv = "HALLMARK_E2E_BACKEND"

// backend returns the stores chosen by HALLMARK_E2E_BACKEND.
func backend(t testing.TB) (postgres, s3 bool) {
	switch b := os.Getenv(backendEnv); b {
	case "", "sqlite":
		return false, false
	case "postgres":
		return true, false
	case "postgres+s3", "replicas":
		return true, true
	default:
		t.Fatalf("%s=%q: want sqlite, postgres, postgres+s3 or replicas", backendEnv, b)
		return false, false
	}
}

// replicated reports whether the servers tests start are two replicas
// behind a balancer (HALLMARK_E2E_BACKEND=replicas).
func replicated() bool { return os.Getenv(backendEnv) == "replicas" }

// Server is a running `hallmark serve` process.
type Server struct {
	t    testing.TB
	URL  string
	Data string
	Addr string
	// Database is the PostgreSQL URL of its state ("": SQLite in Data).
	Database string
	// Blobs is the directory holding its blobs: Data/blobs, or the
	// directory of its bucket's objects below the prefix.
	Blobs string
	// Bucket is its bucket with HALLMARK_E2E_BACKEND=postgres+s3, else nil.
	Bucket *s3test.Bucket
	// stores are the serve flags naming its stores; env gives it the
	// bucket's credentials.
	stores []string
	env    []string
	cmd    *exec.Cmd
	log    *processLog
	args   []string
	// Env is added to the server process's environment.
	Env []string
	// standby is a second process waiting to take over (StartStandby).
	standby    *exec.Cmd
	standbyLog *processLog
	// With HALLMARK_E2E_BACKEND=replicas, Addr is a balancer's in front
	// of two replicas: this process, listening on own, and replica, which
	// runs on a copy of Data made at each Start.
	own     string
	replica *Server
}

func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// StartServer starts `hallmark serve --dev` on a free port with a new data
// directory, and waits until it is healthy. Extra args are appended.
func StartServer(t testing.TB, args ...string) *Server {
	t.Helper()
	s := newServer(t)
	s.args = args
	s.Start()
	return s
}

// newServer returns a server on a free address with a new data directory
// and new stores of the chosen backend (see backendEnv), not started yet.
// With HALLMARK_E2E_BACKEND=replicas it is two replicas behind a balancer.
func newServer(t testing.TB) *Server {
	t.Helper()
	pg, s3 := backend(t)
	s := newServerOn(t, pg, s3)
	if replicated() {
		s.own = freeAddr(t)
		s.replica = &Server{t: t, Data: filepath.Join(t.TempDir(), "data"), Addr: freeAddr(t), Database: s.Database,
			Blobs: s.Blobs, Bucket: s.Bucket, stores: s.stores, env: s.env}
		s.replica.URL = "http://" + s.replica.Addr
		startBalancer(t, s.Addr, s.own, s.replica.Addr)
	}
	return s
}

// listenAddr is the address the server's (first) process listens on.
func (s *Server) listenAddr() string {
	if s.own != "" {
		return s.own
	}
	return s.Addr
}

// DataDirs are the data directories of the server's processes: its own,
// and its replica's copy.
func (s *Server) DataDirs() []string {
	if s.replica != nil {
		return []string{s.Data, s.replica.Data}
	}
	return []string{s.Data}
}

// CopyToReplicas copies files of the data directory into its replica's, as
// an operator copies a prepared online key rotation to every replica.
func (s *Server) CopyToReplicas(names ...string) {
	s.t.Helper()
	if s.replica == nil {
		return
	}
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(s.Data, n))
		if err != nil {
			s.t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(s.replica.Data, n), b, 0o600); err != nil {
			s.t.Fatal(err)
		}
	}
}

// Processes are the URLs of the server's processes themselves: one, or
// with HALLMARK_E2E_BACKEND=replicas the two replicas behind URL. A test
// that counts what the server saw (/metrics) asks each.
func (s *Server) Processes() []string {
	urls := []string{"http://" + s.listenAddr()}
	if s.replica != nil {
		urls = append(urls, s.replica.URL)
	}
	return urls
}

// newServerOn returns a server, not started yet, with new stores: a
// PostgreSQL database if pg, a bucket if s3.
func newServerOn(t testing.TB, pg, s3 bool) *Server {
	t.Helper()
	s := &Server{t: t, Data: filepath.Join(t.TempDir(), "data"), Addr: freeAddr(t)}
	s.URL = "http://" + s.Addr
	s.Blobs = filepath.Join(s.Data, "blobs")
	if pg {
		s.Database = pgtest.NewDatabase(t)
		if out, err := exec.Command(binary, "migrate", "--database", s.Database).CombinedOutput(); err != nil {
			t.Fatalf("hallmark migrate: %v\n%s", err, out)
		}
		s.stores = append(s.stores, "--database", s.Database)
	}
	if s3 {
		s.env = s3test.Need(t).Env()
		b := s3test.NewBucket(t, "repo")
		s.Bucket, s.Blobs = &b, b.Dir
		s.stores = append(s.stores, "--blobs", b.URL)
	}
	t.Cleanup(s.Stop)
	return s
}

// command returns the `hallmark serve` command of this server.
func (s *Server) command(args ...string) *exec.Cmd {
	cmd := exec.Command(binary, append(args, s.stores...)...)
	cmd.Env = append(append(os.Environ(), s.env...), s.Env...)
	s.log = &processLog{}
	cmd.Stdout, cmd.Stderr = s.log, s.log
	// If the test binary dies, so does the server.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
}

// needSQLite skips a test that reads or tampers with the SQLite state
// file itself when the servers run on another backend.
func needSQLite(t testing.TB) {
	t.Helper()
	if pg, _ := backend(t); pg {
		t.Skipf("this test opens the SQLite state file directly; it runs with %s=sqlite", backendEnv)
	}
}

// needBlobDir skips a test about the local blob directory itself when the
// servers keep their blobs in S3.
func needBlobDir(t testing.TB) {
	t.Helper()
	if _, s3 := backend(t); s3 {
		t.Skipf("this test is about the local blob directory; it runs with %s=sqlite or postgres", backendEnv)
	}
}

// Start (re)starts the server process on its address and data directory.
func (s *Server) Start() {
	s.t.Helper()
	s.launch(append([]string{"serve", "--dev", "--data", s.Data, "--addr", s.listenAddr()}, s.args...))
}

// launch starts the server's process with args and waits until it is
// healthy; then its replica, if it has one, on a fresh copy of the data
// directory (what an operator copies to every replica: settings and online
// key material), with the same flags but its own address and without an
// init ceremony (the first process applied it to the shared database).
func (s *Server) launch(args []string) {
	s.t.Helper()
	s.cmd = s.command(args...)
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	s.awaitHealthy(s.cmd, "http://"+s.listenAddr())
	if s.replica == nil {
		return
	}
	r := s.replica
	if err := os.RemoveAll(r.Data); err != nil {
		s.t.Fatal(err)
	}
	if err := os.CopyFS(r.Data, os.DirFS(s.Data)); err != nil {
		s.t.Fatal(err)
	}
	r.Env = s.Env
	var rargs []string
	for i := 0; i < len(args); i++ {
		switch args[i] {
		case "--init-bundle":
			i++
		case "--data":
			rargs = append(rargs, args[i], r.Data)
			i++
		case "--addr":
			rargs = append(rargs, args[i], r.Addr)
			i++
		case "--pprof":
			rargs = append(rargs, args[i], freeAddr(s.t))
			i++
		default:
			rargs = append(rargs, args[i])
		}
	}
	r.cmd = r.command(rargs...)
	if err := r.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	r.awaitHealthy(r.cmd, r.URL)
}

// awaitHealthy waits until the process cmd answers /healthz at url.
func (s *Server) awaitHealthy(cmd *exec.Cmd, url string) {
	s.t.Helper()
	hc := &http.Client{Timeout: 5 * time.Second}
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		resp, err := hc.Get(url + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if exited(cmd) {
			s.t.Fatalf("server exited before it became healthy; its output:\n%s", s.log)
		}
	}
	s.t.Fatalf("server did not become healthy; its output:\n%s", s.log)
}

// exited reports whether the child process cmd has exited (a zombie
// nobody waited for yet).
func exited(cmd *exec.Cmd) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", cmd.Process.Pid))
	if err != nil {
		return true
	}
	// pid (comm) STATE ...: comm may hold spaces and parentheses.
	_, rest, _ := strings.Cut(string(b), ") ")
	return strings.HasPrefix(rest, "Z") || strings.HasPrefix(rest, "X")
}

// Stop stops the server gracefully, and its standby if one waits, and its
// replica if it has one.
func (s *Server) Stop() {
	if s.replica != nil {
		s.replica.Stop()
	}
	if s.standby != nil {
		s.standby.Process.Kill()
		s.standby.Wait()
		s.standby = nil
	}
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		s.cmd.Process.Kill()
		<-done
	}
	s.cmd = nil
}

// StartStandby starts a second `hallmark serve --standby` process on the
// same address, data directory and database: it waits, without
// listening, while the running server holds the database.
func (s *Server) StartStandby() {
	s.t.Helper()
	running, runningLog := s.cmd, s.log
	s.standby = s.command(append([]string{"serve", "--dev", "--data", s.Data, "--addr", s.listenAddr(), "--standby"}, s.args...)...)
	s.standbyLog, s.log = s.log, runningLog
	s.cmd = running
	if err := s.standby.Start(); err != nil {
		s.t.Fatal(err)
	}
}

// AwaitTakeOver waits until the standby, once the running server is
// gone, serves in its place, and returns how long that took.
func (s *Server) AwaitTakeOver() time.Duration {
	s.t.Helper()
	start := time.Now()
	s.cmd, s.log, s.standby = s.standby, s.standbyLog, nil
	hc := &http.Client{Timeout: 2 * time.Second}
	for time.Since(start) < 60*time.Second {
		if resp, err := hc.Get("http://" + s.listenAddr() + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return time.Since(start)
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.t.Fatalf("the standby did not take over; its output:\n%s", s.log)
	return 0
}

// Kill stops the server with SIGKILL, as a crash would; both replicas
// when it has two.
func (s *Server) Kill() {
	if s.replica != nil {
		s.replica.Kill()
	}
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	s.cmd.Wait()
	s.cmd = nil
}

// Log returns the server's output so far (its replica's after it).
func (s *Server) Log() string {
	if s.replica != nil && s.replica.log != nil {
		return s.log.String() + "\n--- the second replica ---\n" + s.replica.log.String()
	}
	return s.log.String()
}

// BlobPath is the file behind a served path ("metadata/0/timestamp.json"),
// in the blob directory or in the bucket's directory of the S3 server.
func (s *Server) BlobPath(served string) string {
	return filepath.Join(s.Blobs, filepath.FromSlash(served))
}

// User is a person with their own HALLMARK_HOME.
type User struct {
	t    testing.TB
	Home string
	Repo string
	Env  []string
}

// NewUser returns a user whose home is empty, pointed at srv.
func NewUser(t testing.TB, srv *Server) *User {
	u := &User{t: t, Home: t.TempDir(), Repo: srv.URL}
	u.Env = []string{"HALLMARK_HOME=" + u.Home, "HALLMARK_PASSPHRASE=correct horse", "HALLMARK_REPO=" + srv.URL}
	return u
}

// Result is a finished CLI run.
type Result struct {
	Stdout, Stderr string
	Code           int
}

// Run runs the hallmark CLI as this user.
func (u *User) Run(args ...string) Result {
	u.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = append(os.Environ(), u.Env...)
	// Run in the user's own directory, so nothing lands in the source tree.
	cmd.Dir = u.Home
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := Result{Stdout: out.String(), Stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.Code = ee.ExitCode()
	} else if err != nil {
		u.t.Fatalf("hallmark %s: %v", strings.Join(args, " "), err)
	}
	return r
}

// MustRun runs the CLI and fails the test unless it exits 0.
func (u *User) MustRun(args ...string) Result {
	u.t.Helper()
	r := u.Run(args...)
	if r.Code != 0 {
		u.t.Fatalf("hallmark %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.Code, r.Stdout, r.Stderr)
	}
	return r
}

// MustFail runs the CLI, fails the test unless it exits non-zero, and
// checks that stderr contains want.
func (u *User) MustFail(want string, args ...string) Result {
	u.t.Helper()
	r := u.Run(args...)
	if r.Code == 0 {
		u.t.Fatalf("hallmark %s succeeded; want failure\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.Stdout, r.Stderr)
	}
	if !strings.Contains(r.Stderr, want) {
		u.t.Fatalf("hallmark %s: stderr does not contain %q:\n%s", strings.Join(args, " "), want, r.Stderr)
	}
	return r
}

// NewMaintainer returns a user who trusts srv and has a key named name.
func NewMaintainer(t testing.TB, srv *Server, name string) *User {
	u := NewUser(t, srv)
	u.MustRun("trust", srv.URL, "--yes")
	u.MustRun("key", "generate", name, "--label", name+" <"+name+"@example.org>")
	return u
}

// WriteFile writes a file in dir and returns its path.
func WriteFile(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// WitnessURL is the URL of the server's development witness ("" for a
// repository created with --no-witness).
func (s *Server) WitnessURL() string {
	s.t.Helper()
	b, err := os.ReadFile(filepath.Join(s.Data, "repository.json"))
	if err != nil {
		s.t.Fatal(err)
	}
	var info struct {
		DevWitness string `json:"dev_witness"`
	}
	if err := json.Unmarshal(b, &info); err != nil {
		s.t.Fatal(err)
	}
	return info.DevWitness
}

// processLog collects a child process's output. os/exec copies the output
// of a pipe in its own goroutine, so reads by the test take the same lock.
type processLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *processLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// String returns what the process wrote so far.
func (l *processLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}
