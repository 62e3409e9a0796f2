package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Two servers on one embedded data directory would each publish on their
// own: the second one must refuse to start, naming the first, and a
// first one killed with kill -9 must not leave the directory locked.
func TestSecondServerOnOneDataDirectoryIsRefused(t *testing.T) {
	needSQLite(t)
	first := StartServer(t)
	host, _ := os.Hostname()

	second := func() (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, binary, "serve", "--dev", "--data", first.Data, "--addr", freeAddr(t)).CombinedOutput()
		return string(out), err
	}
	out, err := second()
	if err == nil {
		t.Fatalf("a second server on %s started:\n%s", first.Data, out)
	}
	pid := fmt.Sprint(first.cmd.Process.Pid)
	for _, want := range []string{"in use by process " + pid, "on host " + host, "started 20", "stop that server first (process " + pid + ")"} {
		if !strings.Contains(out, want) {
			t.Errorf("refusal does not say %q:\n%s", want, out)
		}
	}
	// The refused server changed nothing: the first one still serves.
	u := NewMaintainer(t, first, "alice")
	u.MustRun("project", "create", "lock-demo", "--key", "alice")

	// kill -9 leaves no lock behind: the kernel drops it with the process.
	first.Kill()
	first.Start()
	u.MustRun("versions", "lock-demo")
}

// The same on a shared PostgreSQL database for a server whose blobs are in
// its own data directory (replicas share a bucket: see replicas_test.go):
// a second server (its own copy of the data directory, the same
// --database) is refused naming the first; started with --standby it
// waits, and takes over once the first is killed with kill -9.
func TestSecondServerOnOneDatabaseIsRefused(t *testing.T) {
	first := newServerOn(t, true, false)
	first.Start()
	u := NewMaintainer(t, first, "alice")
	u.MustRun("project", "create", "lock-demo", "--key", "alice")

	second := &Server{t: t, Data: filepath.Join(t.TempDir(), "data"), Addr: freeAddr(t), Database: first.Database,
		Blobs: first.Blobs, Bucket: first.Bucket, stores: first.stores, env: first.env}
	second.URL = "http://" + second.Addr
	t.Cleanup(second.Stop)
	if err := os.CopyFS(second.Data, os.DirFS(first.Data)); err != nil {
		t.Fatal(err)
	}
	cmd := second.command("serve", "--data", second.Data, "--addr", second.Addr)
	if err := cmd.Run(); err == nil {
		t.Fatalf("a second server on database %s started:\n%s", first.Database, second.Log())
	}
	host, _ := os.Hostname()
	pid := fmt.Sprint(first.cmd.Process.Pid)
	for _, want := range []string{"in use by hallmark server process " + pid + " on host " + host, "stop that server first"} {
		if !strings.Contains(second.Log(), want) {
			t.Errorf("refusal does not say %q:\n%s", want, second.Log())
		}
	}

	// A standby waits without serving, then takes over.
	second.cmd = second.command("serve", "--dev", "--data", second.Data, "--addr", second.Addr, "--standby")
	if err := second.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	healthy := func() bool {
		resp, err := http.Get(second.URL + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}
	time.Sleep(2 * time.Second)
	if healthy() || !strings.Contains(second.Log(), "standing by") {
		t.Fatalf("the standby serves, or does not say it stands by, while the first server runs:\n%s", second.Log())
	}
	first.Kill()
	killed := time.Now()
	for !healthy() {
		if time.Since(killed) > 30*time.Second {
			t.Fatalf("the standby did not take over within 30s:\n%s", second.Log())
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("the standby served %v after the first server was killed", time.Since(killed).Round(time.Millisecond))
	u.Repo = second.URL
	u.Env = append(u.Env, "HALLMARK_REPO="+second.URL)
	u.MustRun("trust", second.URL, "--yes")
	u.MustRun("versions", "lock-demo")
}
