package e2e

import (
	"bytes"
	"context"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"hallmark.dev/hallmark/layout"
	"hallmark.dev/hallmark/server"
)

// startWitnessProcess runs `hallmark witness init` and `witness serve` as a
// witness operator would, for the repository srv, and returns its keys
// file for the admins.
func startWitnessProcess(t *testing.T, srv *Server, name string) (keysFile, url string) {
	t.Helper()
	op := NewUser(t, srv)
	data := filepath.Join(t.TempDir(), "witness")
	op.MustRun("witness", "init", "--data", data, "--name", name)
	addr := freeAddr(t)
	url = "http://" + addr
	keysFile = filepath.Join(t.TempDir(), name+".json")
	op.MustRun("witness", "key", "--data", data, "--url", url, "--shards", "16", "-o", keysFile)
	fp := admMatch(t, admTrustFingerprint, op.MustRun("trust", srv.URL, "--yes").Stderr)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, binary, "witness", "serve", "--data", data, "--addr", addr, "--trust", srv.URL, "--fingerprint", fp)
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); cmd.Wait() })
	for i := 0; ; i++ {
		resp, err := http.Get(url + "/healthz")
		if err == nil {
			resp.Body.Close()
			break
		}
		if i > 100 {
			t.Fatalf("witness %s did not start:\n%s", name, log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	return keysFile, url
}

// TestAdminWitnessAddAndRemove: an admin adds a second, independent witness
// to every shard (a root ceremony, explained in plain words), publishing
// goes on with both co-signing, clients pinned before follow, new users pin
// the announced fingerprint; then the development witness is removed and
// publishing goes on without it.
func TestAdminWitnessAddAndRemove(t *testing.T) {
	srv := StartServer(t)
	alice := NewMaintainer(t, srv, "alice")
	dir := t.TempDir()
	alice.MustRun("project", "create", "watched", "--key", "alice")
	alice.MustRun("release", "upload", "watched", "1.0.0", WriteFile(t, dir, "watched-1.0.0.tar.gz", []byte("1.0.0\n")))
	shard := projectShard(t, "watched")
	root := fetchInitialRoot(t, srv, fetchTrust(t, srv), shard)
	g := newGoTUF(t, srv, shard, root)
	g.refresh()

	keys, url := startWitnessProcess(t, srv, "w2.example.org")
	admin := NewUser(t, srv)
	admin.MustRun("trust", srv.URL, "--yes")
	devKeys := filepath.Join(srv.Data, server.DevKeysDir)
	r := admin.MustRun("admin", "witness", "add", keys, "--keys", devKeys, "--yes")
	for _, want := range []string{"add witness w2.example.org (" + url + ") to co-sign every timestamp",
		"timestamps need 3 signatures: the online key and 2 of the 2 witnesses", "published in 16 shard(s)"} {
		if !strings.Contains(r.Stderr, want) {
			t.Fatalf("admin witness add does not say %q:\n%s", want, r.Stderr)
		}
	}
	fp := admNewFingerprint(t, r.Stderr)

	// Publishing goes on, co-signed by both; old and new clients read it.
	alice.MustRun("release", "upload", "watched", "1.1.0", WriteFile(t, dir, "watched-1.1.0.tar.gz", []byte("1.1.0\n")))
	up := g.refresh()
	if n := len(up.GetTrustedMetadataSet().Timestamp.Signatures); n < 3 {
		t.Fatalf("go-tuf trusts a timestamp with %d signatures; want the online key and both witnesses", n)
	}
	if _, err := up.GetTargetInfo(layout.FilePath("watched", "1.1.0", "watched-1.1.0.tar.gz")); err != nil {
		t.Fatalf("go-tuf after the witness was added: %v", err)
	}
	newcomer := NewUser(t, srv)
	newcomer.MustRun("trust", srv.URL, "--fingerprint", fp)
	if got := newcomer.MustRun("versions", "watched").Stdout; got != "1.1.0\n1.0.0\n" {
		t.Fatalf("a new user pinned after the ceremony sees %q", got)
	}

	// The development witness is removed; the new one alone co-signs.
	r = admin.MustRun("admin", "witness", "remove", "dev-witness", "--keys", devKeys, "--yes")
	for _, want := range []string{"remove witness dev-witness", "timestamps need 2 signatures: the online key and 1 of the 1 witnesses"} {
		if !strings.Contains(r.Stderr, want) {
			t.Fatalf("admin witness remove does not say %q:\n%s", want, r.Stderr)
		}
	}
	admin.MustFail("no witness named", "admin", "witness", "remove", "nobody", "--keys", devKeys, "--yes")
	alice.MustRun("release", "upload", "watched", "1.2.0", WriteFile(t, dir, "watched-1.2.0.tar.gz", []byte("1.2.0\n")))
	if _, err := g.refresh().GetTargetInfo(layout.FilePath("watched", "1.2.0", "watched-1.2.0.tar.gz")); err != nil {
		t.Fatalf("go-tuf after the development witness was removed: %v", err)
	}
}
