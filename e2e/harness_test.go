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
	"syscall"
	"testing"
	"time"
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
	os.RemoveAll(dir)
	os.Exit(code)
}

// Server is a running `hallmark serve` process.
type Server struct {
	t    testing.TB
	URL  string
	Data string
	Addr string
	cmd  *exec.Cmd
	log  *bytes.Buffer
	args []string
	// Env is added to the server process's environment.
	Env []string
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
	s := &Server{t: t, Data: filepath.Join(t.TempDir(), "data"), Addr: freeAddr(t), args: args}
	s.URL = "http://" + s.Addr
	s.Start()
	t.Cleanup(s.Stop)
	return s
}

// Start (re)starts the server process on its address and data directory.
func (s *Server) Start() {
	s.t.Helper()
	args := append([]string{"serve", "--dev", "--data", s.Data, "--addr", s.Addr}, s.args...)
	s.log = &bytes.Buffer{}
	s.cmd = exec.Command(binary, args...)
	s.cmd.Env = append(os.Environ(), s.Env...)
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	// If the test binary dies, so does the server.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(s.URL + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if s.cmd.ProcessState != nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.t.Fatalf("server did not become healthy; its output:\n%s", s.log)
}

// Stop stops the server gracefully.
func (s *Server) Stop() {
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

// Kill stops the server with SIGKILL, as a crash would.
func (s *Server) Kill() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	s.cmd.Wait()
	s.cmd = nil
}

// Log returns the server's output so far.
func (s *Server) Log() string { return s.log.String() }

// BlobPath is the file behind a served path ("metadata/0/timestamp.json").
func (s *Server) BlobPath(served string) string {
	return filepath.Join(s.Data, "blobs", filepath.FromSlash(served))
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
