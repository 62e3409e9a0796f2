package e2e

// Laundering attacks: a genuine signature on one part of a change, or on a
// ceremony, made to carry a part nobody signed (an owners role, a trust
// file, a dropped or re-keyed claim). Each was a security-review finding;
// the doc comments describe the attack as it then succeeded, and each test
// is the regression test of its fix.

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"hallmark.dev/hallmark/ceremony"
	"hallmark.dev/hallmark/layout"
	"hallmark.dev/hallmark/signing"
	"hallmark.dev/hallmark/trust"
	"hallmark.dev/hallmark/tufmeta"
)

// TestAttackPendingOwnersRoleLaunderedByReleasesSignature: the server adds an
// UNSIGNED owners role (declaring its own key an owner and a maintainer) to
// a genuine pending release of alice. The co-signer's tool accepts it: the
// "genuine member signature" rule is met by alice's signature on the
// *releases* role, and an owner-change owners role with no signature at all
// validates as "pending". bob (an owner) approves what looks like alice's
// change, and with one approval the server's key becomes owner and
// maintainer of the project.
func TestAttackPendingOwnersRoleLaunderedByReleasesSignature(t *testing.T) {
	needSQLite(t) // edits the SQLite state file directly
	srv := StartServer(t)
	alice := NewMaintainer(t, srv, "alice")
	bob := NewMaintainer(t, srv, "bob")
	dir := t.TempDir()
	govTwoMaintainers(t, alice, bob, "guard", WriteFile(t, dir, "guard-1.0.0.tar.gz", []byte("guard 1.0.0")))
	bobLine, _ := govPublic(t, bob, "bob")
	govMustPublish(t, alice.MustRun("owner", "add", "guard", bobLine, "--yes")) // owners alice+bob, threshold 1

	// alice's genuine release, waiting for bob (releases threshold 2).
	rel := govPendingID(t, alice.MustRun("release", "upload", "guard", "2.0.0", WriteFile(t, dir, "guard-2.0.0.tar.gz", []byte("guard 2.0.0"))), "guard")

	// The server slips an unsigned owners role into it.
	evil, err := signing.Generate("alice <alice@example.org>")
	if err != nil {
		t.Fatal(err)
	}
	base := govVerified(t, bob, "guard")
	db := govDB(t, srv)
	row, ok := govPendingRowOf(t, db, rel)
	if !ok {
		t.Fatal("no pending row")
	}
	c := govDecodeChange(t, row.Change)
	owners := govCloneTargets(t, base.OwnersRole)
	owners.Signatures = nil
	owners.Signed.Version++
	d := owners.Signed.Delegations
	d.Keys[evil.ID()] = evil.Public().TUF()
	d.Roles[0].KeyIDs = append(d.Roles[0].KeyIDs, evil.ID())
	decl, _, err := tufmeta.DeclaredOwners(owners)
	if err != nil {
		t.Fatal(err)
	}
	decl.Keys[evil.ID()] = evil.Public().TUF()
	decl.KeyIDs = append(decl.KeyIDs, evil.ID())
	decl.Threshold = 1
	tufmeta.SetDeclaredOwners(owners, decl)
	c.owners = owners // no signature at all
	govSetChange(t, db, rel, c.encode(t))

	r := bob.Run("approve", "guard", rel, "--yes")
	v := govShow(t, bob, "guard")
	if r.Code == 0 || slices.Contains(govKeyIDs(v.Owners), evil.ID()) {
		t.Fatalf("bob's tool co-signed an owners role nobody signed (the server's own proposal), because alice signed the releases role:\n%s\nowners now: %v (evil key %s)", r.Stderr, govKeyIDs(v.Owners), evil.ID()[:8])
	}
	if !strings.Contains(r.Stderr, "refusing") {
		t.Fatalf("approve failed without refusing:\n%s", r.Stderr)
	}
}

// TestAttackCeremonyForgedTrustField: a ceremony's "trust" field is not
// signed, and neither the server nor the admin tools check it against the
// roots the ceremony publishes. Anyone who POSTs a complete ceremony (here a
// renewal that does not even change root keys) decides what
// metadata/trust.json pins for every new user — and `hallmark serve`
// prints the fingerprint of that file for operators to publish.
func TestAttackCeremonyForgedTrustField(t *testing.T) {
	rp := admSetup(t)
	srv := rp.srv
	k2 := admTwoAdmins(t, rp)
	a2 := admPin(t, srv, rp.fp)
	renew := filepath.Join(t.TempDir(), "renew.json")
	rp.admin.MustRun("admin", "renew", "--force", "--keys", rp.keys, "-o", renew, "--yes")
	admSays(t, "admin sign", a2.MustRun("admin", "sign", renew, "--keys", k2, "--yes").Stderr, "complete: submit it")
	mallory, err := signing.Generate("mallory")
	if err != nil {
		t.Fatal(err)
	}
	edited := admEdit(t, renew, func(b *ceremony.Bundle) {
		b.Trust = &trust.File{Shards: admShards, RootKeys: map[string]*metadata.Key{mallory.ID(): mallory.Public().TUF()}, RootThreshold: 1, RootVersion: 2}
	})
	// Refusing the ceremony is a fine answer; publishing the trust field is not.
	code, results := admPostCeremony(t, srv, edited)
	t.Logf("POST of the renewal with a forged trust field: HTTP %d %+v", code, results)
	var tf trust.File
	if err := json.Unmarshal(staticGet(t, srv.URL+"/"+layout.TrustFile), &tf); err != nil {
		t.Fatal(err)
	}
	if _, ok := tf.RootKeys[mallory.ID()]; ok {
		t.Fatalf("metadata/trust.json now pins mallory's key as the only root key (fingerprint %s), taken from the unsigned trust field of a renewal ceremony", tf.Fingerprint())
	}
}

// TestAttackCoSignerShownDroppedOrRekeyedClaim: a claim-key holder
// (admin 1 of a 2-of-2 claim threshold) hands admin 2 a ceremony whose
// claimed bin silently drops a claimed project, or "blocks" it with a key
// admin 1 kept. admin 2's tool explains the first as a plain renewal and the
// second as a block, and signs. A dropped project falls through to
// new.<shard> (online key); a block key someone holds is a takeover. The
// co-signer's tool must refuse, or at least say so.
func TestAttackCoSignerShownDroppedOrRekeyedClaim(t *testing.T) {
	rp := admSetup(t)
	srv := rp.srv
	k2 := admTwoAdmins(t, rp)
	a2 := admPin(t, srv, rp.fp)
	alice := NewMaintainer(t, srv, "alice")
	victim := "victim"
	shard := layout.ShardOf(victim, admShards)
	alice.MustRun("project", "create", victim, "--key", "alice")
	claim := filepath.Join(t.TempDir(), "claim.json")
	rp.admin.MustRun("admin", "claim", victim, "--keys", rp.keys, "-o", claim, "--yes")
	a2.MustRun("admin", "sign", claim, "--keys", k2, "--yes")
	admSays(t, "admin submit", rp.admin.MustRun("admin", "submit", claim, "--yes").Stderr, "published in 1 shard(s)")
	mallory, err := signing.Generate("mallory")
	if err != nil {
		t.Fatal(err)
	}

	t.Run("dropped", func(t *testing.T) {
		renew := filepath.Join(t.TempDir(), "renew.json")
		rp.admin.MustRun("admin", "renew", "--force", "--keys", rp.keys, "-o", renew, "--yes")
		edited := admEdit(t, renew, func(b *ceremony.Bundle) {
			admOnly(b, shard)
			admEditShard(t, b, shard, func(r *ceremony.Roles) {
				tufmeta.RemoveDelegation(r.Claimed, layout.OwnersRole(victim))
				r.Claimed.Signatures = nil
			})
		})
		rp.admin.Run("admin", "sign", edited, "--keys", rp.keys, "--yes") // the proposer's own tool may refuse already
		r := a2.Run("admin", "sign", edited, "--keys", k2, "--yes")
		if r.Code == 0 {
			t.Errorf("admin 2 signed a claimed bin that drops the claimed project %s, told only:\n%s", victim, r.Stderr)
		}
	})

	t.Run("block key kept", func(t *testing.T) {
		block := filepath.Join(t.TempDir(), "block.json")
		rp.admin.MustRun("admin", "block", victim, "--reason", "malware", "--keys", rp.keys, "-o", block, "--yes")
		edited := admEdit(t, block, func(b *ceremony.Bundle) {
			admEditShard(t, b, shard, func(r *ceremony.Roles) {
				var field any
				for _, d := range r.Claimed.Signed.Delegations.Roles {
					if d.Name == victim {
						field = d.UnrecognizedFields[tufmeta.BlockedField]
					}
				}
				tufmeta.SetProjectDelegation(r.Claimed, victim, tufmeta.NewDelegation([]signing.PublicKey{mallory.Public()}, 1))
				ds := r.Claimed.Signed.Delegations.Roles
				ds[len(ds)-1].UnrecognizedFields = map[string]any{tufmeta.BlockedField: field}
				r.Claimed.Signatures = nil
			})
		})
		rp.admin.Run("admin", "sign", edited, "--keys", rp.keys, "--yes")
		r := a2.Run("admin", "sign", edited, "--keys", k2, "--yes")
		if r.Code == 0 {
			t.Errorf("admin 2 signed a 'block' of %s whose delegation names a key admin 1 holds (%s), told only:\n%s", victim, mallory.ID()[:8], r.Stderr)
		}
	})
}

// TestAttackAnonymousQueuesLaunderedOwnerChange: the same laundering needs no
// access to the server. Anyone reads alice's pending release from the public
// API (the change and its staged files), pairs her signed releases role with
// an unsigned owners role that makes the attacker's key an owner and a
// maintainer (labelled like alice), and posts it as a new change. The server
// keeps it pending ("signed by a current maintainer"), and bob's tool offers
// it as a change signed by alice.
func TestAttackAnonymousQueuesLaunderedOwnerChange(t *testing.T) {
	srv := StartServer(t)
	alice := NewMaintainer(t, srv, "alice")
	bob := NewMaintainer(t, srv, "bob")
	dir := t.TempDir()
	govTwoMaintainers(t, alice, bob, "guard", WriteFile(t, dir, "guard-1.0.0.tar.gz", []byte("guard 1.0.0")))
	bobLine, _ := govPublic(t, bob, "bob")
	govMustPublish(t, alice.MustRun("owner", "add", "guard", bobLine, "--yes"))
	rel := govPendingID(t, alice.MustRun("release", "upload", "guard", "2.0.0", WriteFile(t, dir, "guard-2.0.0.tar.gz", []byte("guard 2.0.0"))), "guard")

	// The outsider: public API only.
	var theirs *govChange
	var files []filePart
	for _, p := range govServerPending(t, srv, "guard") {
		if p.ID != rel {
			continue
		}
		theirs = govDecodeChange(t, p.Change)
		for _, f := range p.Files {
			files = append(files, filePart{f.Path, staticGet(t, srv.URL+"/api/v1/projects/guard/pending/"+p.ID+"/files/"+f.SHA256)})
		}
	}
	if theirs == nil {
		t.Fatal("alice's pending change is not listed")
	}
	evil, err := signing.Generate("alice <alice@example.org>")
	if err != nil {
		t.Fatal(err)
	}
	base := govVerified(t, NewMaintainer(t, srv, "outsider"), "guard")
	owners := govCloneTargets(t, base.OwnersRole)
	owners.Signatures = nil
	owners.Signed.Version++
	d := owners.Signed.Delegations
	d.Keys[evil.ID()] = evil.Public().TUF()
	d.Roles[0].KeyIDs = append(d.Roles[0].KeyIDs, evil.ID())
	decl, _, _ := tufmeta.DeclaredOwners(owners)
	decl.Keys[evil.ID()] = evil.Public().TUF()
	decl.KeyIDs = append(decl.KeyIDs, evil.ID())
	decl.Threshold = 1
	tufmeta.SetDeclaredOwners(owners, decl)
	tufmeta.SetLabels(owners, map[string]string{evil.ID(): "alice <alice@example.org>"})
	theirs.owners = owners
	status, e := sendWrite(t, srv, multipartWrite(t, "/api/v1/projects/guard/changes", theirs.encode(t), files...))
	if status != http.StatusAccepted {
		t.Logf("the server refused the outsider's change: %d %+v", status, e)
		return
	}
	out := bob.Run("pending", "guard").Stdout
	if strings.Contains(out, evil.ID()[:8]) {
		t.Fatalf("an outsider queued a change that bob's tool offers as signed by a maintainer, making the outsider's key an owner:\n%s", out)
	}
}
