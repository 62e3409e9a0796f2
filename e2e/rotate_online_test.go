package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"hallmark.dev/hallmark/server"
)

// TestAdminRotateOnline replaces the server's online keys, as after a
// server compromise: the operator prepares the next online secret, the
// admins sign new roots (timestamp, snapshot keys) and targets (the
// new-projects bin's key) for every shard, and the server switches to the
// next secret once every shard names it. Clients that pinned before follow
// the root chain; the old secret is gone; publishing goes on.
func TestAdminRotateOnline(t *testing.T) {
	rp := admSetup(t)
	srv := rp.srv
	alice := NewMaintainer(t, srv, "alice")
	dir := t.TempDir()
	v1 := []byte("rotating 1.0.0\n")
	alice.MustRun("project", "create", "rotating", "--key", "alice")
	alice.MustRun("release", "upload", "rotating", "1.0.0", WriteFile(t, dir, "rotating-1.0.0.tar.gz", v1))
	dl := admPin(t, srv, rp.fp)
	admMustGet(t, dl, "rotating", "rotating-1.0.0.tar.gz", v1)
	oldSecret, err := os.ReadFile(filepath.Join(srv.Data, "online.secret"))
	if err != nil {
		t.Fatal(err)
	}

	// A rotation to keys the server does not hold is refused.
	other := t.TempDir()
	rp.admin.MustRun("admin", "prepare", "--data", filepath.Join(other, "data"), "--shards", "16", "-o", filepath.Join(other, "keys.json"))
	r := rp.admin.MustFail("refused", "admin", "rotate", "online", "--online-keys", filepath.Join(other, "keys.json"), "--keys", rp.keys, "--yes")
	admSays(t, "rotation to foreign keys", r.Stderr, "not this server's next online key")

	next := filepath.Join(rp.admin.Home, "next-online-keys.json")
	prep := rp.admin.MustRun("admin", "prepare", "--data", srv.Data, "--rotate-online", "-o", next)
	srv.CopyToReplicas("online.secret.next")
	fp := admMatch(t, regexp.MustCompile(`its fingerprint, for the admins to compare: ([0-9a-f]{64})`), prep.Stderr)
	r = rp.admin.MustRun("admin", "rotate", "online", "--online-keys", next, "--keys", rp.keys, "--yes")
	admSays(t, "rotate online", r.Stderr, "replace the online timestamp key with the server's next one (every shard)",
		"replace the online key of the new-projects bin with the server's next one (every shard)",
		"the server's next online keys have fingerprint "+fp, "published in 16 shard(s)")
	// Fresh clients start from the new roots: never from the ones whose
	// online keys were rotated away.
	rp.fp = admNewFingerprint(t, r.Stderr)
	if tr := fetchTrust(t, srv); tr.RootVersion != 2 {
		t.Fatalf("trust.json names root version %d after the online key rotation; want 2", tr.RootVersion)
	}

	// The replica that received the ceremony switches at once, any other
	// within server.RefreshEvery.
	for _, dir := range srv.DataDirs() {
		waitFor(t, server.RefreshEvery+5*time.Second, "the server to switch to the next online secret in "+dir, func() bool {
			newSecret, err := os.ReadFile(filepath.Join(dir, "online.secret"))
			_, errNext := os.Stat(filepath.Join(dir, "online.secret.next"))
			return err == nil && string(newSecret) != string(oldSecret) && errNext != nil
		})
	}

	// The downloader who pinned before, a new one, and publishing all work.
	admMustGet(t, dl, "rotating", "rotating-1.0.0.tar.gz", v1)
	admMustGet(t, admPin(t, srv, rp.fp), "rotating", "rotating-1.0.0.tar.gz", v1)
	v2 := []byte("rotating 2.0.0\n")
	alice.MustRun("release", "upload", "rotating", "2.0.0", WriteFile(t, dir, "rotating-2.0.0.tar.gz", v2))
	alice.MustRun("project", "create", "after-rotation", "--key", "alice")
	admMustGet(t, dl, "rotating", "rotating-2.0.0.tar.gz", v2)

	// And after a restart, the server signs with the new secret.
	srv.Stop()
	srv.Start()
	v3 := []byte("rotating 3.0.0\n")
	alice.MustRun("release", "upload", "rotating", "3.0.0", WriteFile(t, dir, "rotating-3.0.0.tar.gz", v3))
	admMustGet(t, dl, "rotating", "rotating-3.0.0.tar.gz", v3)
}
