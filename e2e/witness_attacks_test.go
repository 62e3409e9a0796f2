package e2e

// Witness tests: a development repository's own witness (a separate
// process, started by `hallmark serve --dev`) co-signs every shard's
// timestamp. These tests check what happens when it is down.

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// devWitnessPID returns the process id of the development witness of srv:
// the `hallmark witness serve` process whose --data is srv's dev-witness
// directory.
func devWitnessPID(t testing.TB, srv *Server) int {
	t.Helper()
	var info struct {
		DevWitness string `json:"dev_witness"`
	}
	b, err := os.ReadFile(filepath.Join(srv.Data, "repository.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &info); err != nil || info.DevWitness == "" {
		t.Fatalf("repository.json names no development witness (%v): %s", err, b)
	}
	want := []string{"witness", "serve", "--data", filepath.Join(srv.Data, "dev-witness"), "--addr", strings.TrimPrefix(info.DevWitness, "http://")}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		raw, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimRight(string(raw), "\x00"), "\x00")
		if len(args) == len(want)+1 && strings.Join(args[1:], " ") == strings.Join(want, " ") {
			pid, err := strconv.Atoi(filepath.Base(filepath.Dir(p)))
			if err != nil {
				t.Fatal(err)
			}
			return pid
		}
	}
	t.Fatalf("no running process %v", want)
	return 0
}

// TestWitnessDownDelaysPublishing: the development witness is killed with
// SIGKILL. An upload is accepted but not served: `hallmark get` does not
// see it, since its shard's timestamp cannot be co-signed. Once the server
// restarts (and with it its witness), the release becomes visible within
// seconds and verifies, for the CLI and for go-tuf.
func TestWitnessDownDelaysPublishing(t *testing.T) {
	srv := StartServer(t)
	alice := NewMaintainer(t, srv, "alice")
	alice.MustRun("project", "create", "patient", "--key", "alice")
	dir := t.TempDir()
	alice.MustRun("release", "upload", "patient", "1.0.0", WriteFile(t, dir, "patient-1.0.0.tar.gz", []byte("patient 1.0.0\n")))
	dl := pinnedUser(t, srv, "patient")

	if err := syscall.Kill(devWitnessPID(t, srv), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	v2 := []byte("patient 2.0.0\n")
	r := alice.MustRun("release", "upload", "patient", "2.0.0", WriteFile(t, dir, "patient-2.0.0.tar.gz", v2))
	t.Logf("upload with the witness down: %s%s", r.Stdout, r.Stderr)
	for _, u := range []*User{dl, pinnedUser(t, srv, "")} {
		if got := u.MustRun("versions", "patient").Stdout; got != "1.0.0\n" {
			t.Fatalf("with the witness down, versions = %q; want only 1.0.0 (the new timestamp is not co-signed)", got)
		}
	}

	srv.Kill()
	srv.Start()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if got := dl.MustRun("versions", "patient").Stdout; got == "2.0.0\n1.0.0\n" {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("20s after the restart, versions = %q; want 2.0.0 published", got)
		}
		time.Sleep(500 * time.Millisecond)
	}
	admMustGet(t, dl, "patient@2.0.0", "patient-2.0.0.tar.gz", v2)
	shard := projectShard(t, "patient")
	g := newGoTUF(t, srv, shard, fetchInitialRoot(t, srv, fetchTrust(t, srv), shard))
	if got := g.download(g.refresh(), "patient/2.0.0/patient-2.0.0.tar.gz"); string(got) != string(v2) {
		t.Fatalf("go-tuf downloaded %q", got)
	}
}
