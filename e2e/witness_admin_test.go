package e2e

import (
	"path/filepath"
	"strings"
	"testing"

	"hallmark.dev/hallmark/layout"
	"hallmark.dev/hallmark/server"
)

// TestAttackWitnessStaleStateShownToAdmin: the attacker (server, database,
// blobs, online secret) serves an admin whose tool has never seen the shard
// an older state that the witness really co-signed and that has not
// expired: from before a project was claimed. A claim ceremony built on it
// would sign a second claimed bin of the same version that re-delegates the
// project already claimed. The admin's tool asks the shard's witnesses
// what they co-signed last and refuses to sign on anything older.
func TestAttackWitnessStaleStateShownToAdmin(t *testing.T) {
	srv := StartServer(t)
	alice := NewMaintainer(t, srv, "alice")
	first := nameInShard(t, "first", "")
	shard := projectShard(t, first)
	second := nameInShard(t, "second", shard)
	alice.MustRun("project", "create", first, "--key", "alice")
	alice.MustRun("project", "create", second, "--key", "alice")
	att := newAttacker(t, srv)
	keys := filepath.Join(srv.Data, server.DevKeysDir)

	before := att.read(shard, "timestamp.json") // co-signed, valid for a day
	claimedBefore := att.snapshot(shard).Signed.Meta[layout.ClaimedRole(shard)+".json"].Version
	admin := NewUser(t, srv)
	admin.MustRun("trust", srv.URL, "--yes")
	r := admin.MustRun("admin", "claim", first, "--keys", keys, "--yes")
	if !strings.Contains(r.Stderr, "claim "+first+": owners alice") {
		t.Fatalf("admin claim:\n%s", r.Stderr)
	}

	// The attacker serves the co-signed timestamp from before the claim.
	att.write(shard, "timestamp.json", before)
	fresh := NewUser(t, srv)
	fresh.MustRun("trust", srv.URL, "--yes")
	r = fresh.MustFail("you were shown old metadata", "admin", "claim", second, "--keys", keys, "--yes")
	for _, want := range []string{"witness dev-witness co-signed timestamp version", "you were shown old metadata", "nothing was signed"} {
		if !strings.Contains(r.Stderr, want) {
			t.Fatalf("admin claim on a stale state does not say %q:\n%s", want, r.Stderr)
		}
	}
	if v := att.snapshot(shard).Signed.Meta[layout.ClaimedRole(shard)+".json"].Version; v != claimedBefore {
		t.Fatalf("the stale state the admin was shown lists %s version %d; want the pre-claim %d", layout.ClaimedRole(shard), v, claimedBefore)
	}

	// With the real timestamp served again, the same admin claims.
	srv.Stop() // restarted, the server repairs what it serves from its store
	srv.Start()
	r = fresh.MustRun("admin", "claim", second, "--keys", keys, "--yes")
	if !strings.Contains(r.Stderr, "published in 1 shard(s)") {
		t.Fatalf("admin claim after the repair:\n%s", r.Stderr)
	}
}
