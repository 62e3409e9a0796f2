package e2e

// Witness tests: a development repository's own witness (a separate
// process, started by `hallmark serve --dev`) co-signs every shard's
// timestamp. These tests check what happens when it is down.

import (
	"bytes"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"hallmark.dev/hallmark/layout"
	"hallmark.dev/hallmark/witness"
)

// devWitnessPID returns the process id of the development witness of srv:
// the `hallmark witness serve` process whose --data is srv's dev-witness
// directory.
func devWitnessPID(t testing.TB, srv *Server) int {
	t.Helper()
	want := []string{"witness", "serve", "--data", filepath.Join(srv.Data, "dev-witness"), "--addr", strings.TrimPrefix(srv.WitnessURL(), "http://")}
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

	release := takeDevWitnessDown(t, srv)
	v2 := []byte("patient 2.0.0\n")
	r := alice.MustRun("release", "upload", "patient", "2.0.0", WriteFile(t, dir, "patient-2.0.0.tar.gz", v2))
	t.Logf("upload with the witness down: %s%s", r.Stdout, r.Stderr)
	if out := r.Stdout + r.Stderr; !strings.Contains(out, "downloaders will see it only once the repository's witnesses co-sign it") {
		t.Fatalf("the upload does not say it waits for the witnesses:\n%s", out)
	}
	for _, u := range []*User{dl, pinnedUser(t, srv, "")} {
		if got := u.MustRun("versions", "patient").Stdout; got != "1.0.0\n" {
			t.Fatalf("with the witness down, versions = %q; want only 1.0.0 (the new timestamp is not co-signed)", got)
		}
	}

	release()
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

// takeDevWitnessDown kills srv's development witness with SIGKILL and
// holds its port with a listener that drops every connection, so that no
// witness answers there: on a shared database the replicas start the
// development witness again within half a second (server/devwitness.go).
// release frees the port.
func takeDevWitnessDown(t *testing.T, srv *Server) (release func()) {
	t.Helper()
	addr := strings.TrimPrefix(srv.WitnessURL(), "http://")
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		if err := syscall.Kill(devWitnessPID(t, srv), syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 50; i++ {
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				time.Sleep(10 * time.Millisecond) // not dead yet, or started again
				continue
			}
			go func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					c.Close()
				}
			}()
			var once sync.Once
			release = func() { once.Do(func() { ln.Close() }) }
			t.Cleanup(release)
			return release
		}
	}
	t.Fatalf("could not take the development witness's address %s", addr)
	return nil
}

// cosignAtDevWitness posts one co-sign request to srv's development
// witness, as anyone can (the attacker holds the server), and returns the
// witness's answer for it.
func cosignAtDevWitness(t testing.TB, srv *Server, req witness.Request) witness.Result {
	t.Helper()
	body, err := json.Marshal(witness.CosignRequest{Requests: []witness.Request{req}})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Post(srv.WitnessURL()+witness.PathCosign, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out witness.CosignResponse
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || len(out.Results) != 1 {
		t.Fatalf("co-sign: HTTP %d, %v, %+v", resp.StatusCode, err, out)
	}
	return out.Results[0]
}

// TestAttackWitnessReplayOldTimestampAtWitness: the attacker (data
// directory, database, blobs, online secret; no offline key; may POST
// anything to the witness) asks the witness to co-sign a timestamp older
// than one it co-signed, and a new one that would stay valid for 30 days.
// The witness refuses both, and still refuses the rollback after being
// killed with -9 and restarted.
func TestAttackWitnessReplayOldTimestampAtWitness(t *testing.T) {
	srv := StartServer(t)
	att := newAttacker(t, srv)
	alice := NewMaintainer(t, srv, "alice")
	alice.MustRun("project", "create", "replayed", "--key", "alice")
	shard := projectShard(t, "replayed")
	dir := t.TempDir()
	alice.MustRun("release", "upload", "replayed", "1.0.0", WriteFile(t, dir, "replayed-1.0.0.tar.gz", []byte("1.0.0")))
	root := att.read(shard, "1.root.json")
	oldTS := att.read(shard, "timestamp.json")
	oldSnap := att.read(shard, layout.MetadataFile(layout.RoleSnapshot, att.snapshot(shard).Signed.Version))
	alice.MustRun("release", "upload", "replayed", "1.0.1", WriteFile(t, dir, "replayed-1.0.1.tar.gz", []byte("1.0.1, security fix")))

	replay := witness.Request{Shard: shard, Roots: [][]byte{root}, Timestamp: oldTS, Snapshot: oldSnap}
	if r := cosignAtDevWitness(t, srv, replay); r.Error == "" || !strings.Contains(r.Error, "rollback") {
		t.Fatalf("the witness answered a replayed older timestamp with %+v; want a rollback refusal", r)
	} else {
		t.Logf("witness refused the replay: %s", r.Error)
	}

	// A new timestamp valid for 30 days, signed with the real online key.
	snap := att.snapshot(shard)
	snapData := att.read(shard, layout.MetadataFile(layout.RoleSnapshot, snap.Signed.Version))
	att.publishTimestamp(shard, att.timestamp(shard).Signed.Version+1, time.Now().Add(30*24*time.Hour), snap.Signed.Version, snapData)
	long := witness.Request{Shard: shard, Roots: [][]byte{root}, Timestamp: att.read(shard, "timestamp.json"), Snapshot: snapData}
	if r := cosignAtDevWitness(t, srv, long); r.Error == "" || !strings.Contains(r.Error, "from now") {
		t.Fatalf("the witness answered a 30-day timestamp with %+v; want a refusal naming the expiry bound", r)
	} else {
		t.Logf("witness refused the 30-day timestamp: %s", r.Error)
	}

	// Killed with -9, restarted (the server starts it again): it still refuses.
	if err := syscall.Kill(devWitnessPID(t, srv), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	srv.Kill()
	srv.Start()
	if r := cosignAtDevWitness(t, srv, replay); r.Error == "" || !strings.Contains(r.Error, "rollback") {
		t.Fatalf("after kill -9 and restart the witness answered the replay with %+v; want a rollback refusal", r)
	}
}
