package e2e

// Attacks on the admins' ceremonies and on claimed projects: an attacker who
// owns the server (its blob directory, its database, its online keys) or who
// gets hold of a ceremony file tries to take over a claimed project, to get
// an owner change applied that the owners did not sign, or to get a
// tampered or stale ceremony published. Each attack must fail closed with a
// clear message and publish nothing (DESIGN.md sections 2, 5 and 6).

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
	_ "modernc.org/sqlite" // the attacker's view of the server's database

	"hallmark.dev/hallmark/api"
	"hallmark.dev/hallmark/ceremony"
	"hallmark.dev/hallmark/layout"
	"hallmark.dev/hallmark/signing"
	"hallmark.dev/hallmark/tufmeta"
)

// ---------------------------------------------------------------------------
// Helpers.

// admNameInShard returns the first "<prefix>-<i>" in shard of a production
// repository of admShards shards.
func admNameInShard(t testing.TB, prefix, shard string) string {
	t.Helper()
	for i := range 10000 {
		n := prefix + "-" + strconv.Itoa(i)
		if layout.ShardOf(n, admShards) == shard {
			return n
		}
	}
	t.Fatalf("no name with prefix %s in shard %s", prefix, shard)
	return ""
}

// admDecodeTargets decodes targets metadata or fails the test.
func admDecodeTargets(t testing.TB, data []byte) *tufmeta.Targets {
	t.Helper()
	md, err := tufmeta.Decode[metadata.TargetsType](data)
	if err != nil {
		t.Fatal(err)
	}
	if md.Signed.Targets == nil {
		md.Signed.Targets = map[string]*metadata.TargetFiles{}
	}
	return md
}

// admWriteSigned signs md with keys (dropping earlier signatures) and serves
// it under its version in the shard's metadata, as the attacker can.
func admWriteSigned(t testing.TB, a *attacker, shard, role string, md *tufmeta.Targets, keys ...*signing.Key) {
	t.Helper()
	md.Signatures = nil
	if err := tufmeta.Sign(md, keys...); err != nil {
		t.Fatal(err)
	}
	data, err := tufmeta.Encode(md)
	if err != nil {
		t.Fatal(err)
	}
	a.write(shard, layout.MetadataFile(role, md.Signed.Version), data)
}

// admServeTarget puts a target file where clients fetch it.
func admServeTarget(t testing.TB, srv *Server, path string, data []byte) {
	t.Helper()
	p := srv.BlobPath("targets/" + layout.TargetBlobPath(path, hexDigest(data)))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// admSameTree fails the test if dir changed since before.
func admSameTree(t testing.TB, what, dir string, before map[string][]byte) {
	t.Helper()
	after := readTree(t, dir)
	if !maps.EqualFunc(before, after, bytes.Equal) {
		var changed []string
		for p := range after {
			if !bytes.Equal(before[p], after[p]) {
				changed = append(changed, p)
			}
		}
		for p := range before {
			if _, ok := after[p]; !ok {
				changed = append(changed, p+" (removed)")
			}
		}
		slices.Sort(changed)
		t.Fatalf("%s published something: %v", what, changed)
	}
}

// admTwoAdmins splits the single admin's keys between two admins and raises
// the claim threshold to 2: rp.keys keeps root-1, targets and claim; the
// returned directory holds root-2 and a second claim key. Root (2 of 3) and
// claimed bins (2 of 2) then need both admins; root-3 is in a vault.
func admTwoAdmins(t testing.TB, rp *admRepo) string {
	t.Helper()
	k2 := filepath.Join(t.TempDir(), "admin-2-keys")
	pub := admKey(t, rp.admin, "claim-b", rp.keys)
	r := rp.admin.MustRun("admin", "rotate", "claim", "--add", pub, "--threshold", "2", "--keys", rp.keys, "--yes")
	admSays(t, "admin rotate claim", r.Stderr, "claim threshold 1 → 2 (every shard)", "published in 16 shard(s)")
	admMove(t, rp.keys, k2, "root-2")
	admMove(t, rp.keys, k2, "claim-b")
	admMove(t, rp.keys, t.TempDir(), "root-3")
	return k2
}

// admEdit loads a ceremony file, lets edit change it, and saves the result
// as a new file, which it returns.
func admEdit(t testing.TB, path string, edit func(b *ceremony.Bundle)) string {
	t.Helper()
	b, err := ceremony.LoadBundle(path)
	if err != nil {
		t.Fatal(err)
	}
	edit(b)
	out := filepath.Join(t.TempDir(), "edited-"+filepath.Base(path))
	if err := b.Save(out); err != nil {
		t.Fatal(err)
	}
	return out
}

// admEditShard decodes the change of one shard, lets edit change its roles,
// and encodes it back (signatures are kept as they are).
func admEditShard(t testing.TB, b *ceremony.Bundle, shard string, edit func(r *ceremony.Roles)) {
	t.Helper()
	for i, c := range b.Changes {
		if c.Shard != shard {
			continue
		}
		r, err := c.Decode()
		if err != nil {
			t.Fatal(err)
		}
		edit(r)
		b.Changes[i].Claims = nil
		if err := b.Changes[i].Encode(r); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Fatalf("the ceremony does not change shard %s", shard)
}

// admOnly keeps the change of one shard only (and drops the trust summary,
// which speaks for every shard).
func admOnly(b *ceremony.Bundle, shard string) {
	b.Changes = slices.DeleteFunc(b.Changes, func(c ceremony.ShardChange) bool { return c.Shard != shard })
	b.Trust = nil
}

// admPostCeremony posts a ceremony file to the server directly, as anyone
// can, and returns the HTTP status and the per-shard results.
func admPostCeremony(t testing.TB, srv *Server, path string) (int, []api.CeremonyResult) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Post(srv.URL+"/api/v1/admin/ceremonies", "application/json", bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var out api.CeremonyResponse
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatalf("POST ceremony: HTTP %d, not a ceremony response: %s", resp.StatusCode, body)
	}
	return resp.StatusCode, out.Results
}

// admMustRefusePost posts a ceremony file and requires the server to refuse
// every shard of it, each with an error containing want.
func admMustRefusePost(t testing.TB, srv *Server, path, want string) {
	t.Helper()
	code, results := admPostCeremony(t, srv, path)
	if code != http.StatusUnprocessableEntity || len(results) == 0 {
		t.Fatalf("POST of %s: HTTP %d %+v; want 422", filepath.Base(path), code, results)
	}
	for _, r := range results {
		if r.Status != "rejected" || !strings.Contains(r.Error, want) {
			t.Fatalf("POST of %s: shard %s: %s %q; want rejected with %q", filepath.Base(path), r.Shard, r.Status, r.Error, want)
		}
	}
}

// ---------------------------------------------------------------------------
// 5. The online keys take over a claimed project through new.<shard>.

func TestAttackAdminOnlineKeyTakesOverClaimed(t *testing.T) {
	rp := admSetup(t)
	srv := rp.srv
	alice := NewMaintainer(t, srv, "alice")
	victim := "victim"
	shard := layout.ShardOf(victim, admShards)
	newbie := admNameInShard(t, "newbie", shard) // unclaimed, same shard: the control
	file := func(p string) string { return p + "-1.0.0.tar.gz" }
	target := func(p string) string { return layout.FilePath(p, "1.0.0", file(p)) }
	genuine := map[string][]byte{victim: []byte("victim 1.0.0, signed by alice\n"), newbie: []byte("newbie 1.0.0, signed by alice\n")}
	evil := map[string][]byte{victim: []byte("victim 1.0.0 with a backdoor\n"), newbie: []byte("newbie 1.0.0 with a backdoor\n")}
	dir := t.TempDir()
	for _, p := range []string{victim, newbie} {
		alice.MustRun("project", "create", p, "--key", "alice")
		alice.MustRun("release", "upload", p, "1.0.0", WriteFile(t, dir, file(p), genuine[p]))
	}
	rp.admin.MustRun("admin", "claim", victim, "--keys", rp.keys, "--yes")
	root := fetchInitialRoot(t, srv, fetchTrust(t, srv), shard)
	mallory, err := signing.Generate("mallory")
	if err != nil {
		t.Fatal(err)
	}
	a := newAttacker(t, srv)

	forge := func(t *testing.T, listVictim bool) {
		admForgeTakeover(t, a, srv, shard, mallory, map[string]string{victim: file(victim), newbie: file(newbie)}, evil,
			func(p string) bool { return p == newbie || listVictim })
	}

	for _, tc := range []struct {
		name       string
		listVictim bool
	}{
		{"mallory's roles replace the victim's", true},
		{"the victim's genuine roles stay listed", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			restore := saveTree(t, srv.Blobs)
			defer restore()
			// Users and go-tuf clients that verified the victim before.
			cachedUser := admPin(t, srv, rp.fp)
			admMustGet(t, cachedUser, victim, file(victim), genuine[victim])
			cachedGo := newGoTUF(t, srv, shard, root)
			cachedGo.download(cachedGo.refresh(), target(victim))

			forge(t, tc.listVictim)

			// Control: the forgery is accepted where the online keys rule —
			// the unclaimed project is taken over (DESIGN.md section 2: until
			// claimed, a project is only as safe as the online key).
			freshUser := admPin(t, srv, rp.fp)
			admMustGet(t, freshUser, newbie, file(newbie), evil[newbie])
			freshGo := newGoTUF(t, srv, shard, root)
			if got := freshGo.download(freshGo.refresh(), target(newbie)); !bytes.Equal(got, evil[newbie]) {
				t.Fatal("control: go-tuf did not take the forged metadata of the unclaimed project; the test would prove nothing")
			}

			// The claimed project: the genuine file or a refusal, never mallory's.
			for who, u := range map[string]*User{"cached": cachedUser, "fresh": freshUser} {
				out := t.TempDir()
				r := u.Run("get", victim+"@1.0.0", "-o", out)
				t.Logf("%s user: get %s: exit %d: %s", who, victim, r.Code, strings.TrimSpace(r.Stderr))
				got, err := os.ReadFile(filepath.Join(out, file(victim)))
				switch {
				case r.Code == 0 && (err != nil || !bytes.Equal(got, genuine[victim])):
					t.Fatalf("%s user: get %s delivered %q (%v), not the genuine file", who, victim, got, err)
				case r.Code != 0 && !tc.listVictim:
					t.Fatalf("%s user: get %s failed although its genuine roles are served:\n%s", who, victim, r.Stderr)
				case r.Code != 0:
					if !strings.Contains(r.Stderr, "failed verification") {
						t.Fatalf("%s user: get %s failed without saying the metadata does not verify:\n%s", who, victim, r.Stderr)
					}
					mustBeEmpty(t, out)
				}
			}
			for who, g := range map[string]*goTUF{"cached": cachedGo, "fresh": freshGo} {
				up := g.refresh()
				info, err := up.GetTargetInfo(target(victim))
				t.Logf("%s go-tuf: GetTargetInfo(%s): %v", who, target(victim), err)
				if err != nil {
					if !tc.listVictim {
						t.Fatalf("%s go-tuf: %s refused although its genuine roles are served: %v", who, victim, err)
					}
					continue
				}
				if !bytes.Equal(info.Hashes["sha256"], signedTarget(genuine[victim]).Hashes["sha256"]) {
					t.Fatalf("%s go-tuf trusts mallory's %s", who, target(victim))
				}
				os.Remove(g.localTarget(target(victim)))
				if got := g.download(up, target(victim)); !bytes.Equal(got, genuine[victim]) {
					t.Fatalf("%s go-tuf downloaded other bytes of %s", who, victim)
				}
			}
		})
	}
	// With the blob directory restored, the genuine project is served again.
	admMustGet(t, admPin(t, srv, rp.fp), victim, file(victim), genuine[victim])
}

// admForgeTakeover signs, with the shard's real online keys, a new bin that
// delegates every project of files (project -> file name of its release
// 1.0.0) to mallory, serves mallory's owners and releases roles of each with
// the file's evil bytes, and a snapshot and timestamp. The snapshot lists
// mallory's roles of a project only when listed(project) (otherwise it keeps
// the genuine ones).
func admForgeTakeover(t *testing.T, a *attacker, srv *Server, shard string, mallory *signing.Key, files map[string]string, evil map[string][]byte, listed func(project string) bool) {
	t.Helper()
	snap := a.snapshot(shard)
	version := func(role string) int64 {
		mf := snap.Signed.Meta[role+".json"]
		if mf == nil {
			t.Fatalf("the snapshot of shard %s lists no %s", shard, role)
		}
		return mf.Version
	}
	expires := time.Now().AddDate(0, 0, 7).UTC().Truncate(time.Second)
	newRole := layout.NewRole(shard)
	bin := admDecodeTargets(t, a.read(shard, layout.MetadataFile(newRole, version(newRole))))
	bin.Signed.Version++
	bin.Signed.Expires = expires
	takeover := tufmeta.NewDelegation([]signing.PublicKey{mallory.Public()}, 1)
	for _, p := range slices.Sorted(maps.Keys(files)) {
		target := layout.FilePath(p, "1.0.0", files[p])
		tufmeta.SetProjectDelegation(bin, p, takeover)
		owners := metadata.Targets(expires)
		owners.Signed.Version = version(layout.OwnersRole(p)) + 1
		owners.Signed.Delegations = &metadata.Delegations{Keys: maps.Clone(takeover.Keys), Roles: []metadata.DelegatedRole{{
			Name: layout.ReleasesRole(p), KeyIDs: takeover.KeyIDs, Threshold: 1, Terminating: true, Paths: layout.DelegationPaths(p),
		}}}
		ix, err := (&layout.Index{Project: p, Releases: []layout.Release{{Version: "1.0.0", Files: []layout.FileEntry{
			{Name: files[p], SHA256: hexDigest(evil[p]), Length: int64(len(evil[p]))},
		}}}}).Marshal()
		if err != nil {
			t.Fatal(err)
		}
		releases := metadata.Targets(expires)
		releases.Signed.Version = version(layout.ReleasesRole(p)) + 1
		releases.Signed.Targets[target] = signedTarget(evil[p])
		releases.Signed.Targets[layout.IndexPath(p)] = signedTarget(ix)
		admWriteSigned(t, a, shard, layout.OwnersRole(p), owners, mallory)
		admWriteSigned(t, a, shard, layout.ReleasesRole(p), releases, mallory)
		admServeTarget(t, srv, target, evil[p])
		admServeTarget(t, srv, layout.IndexPath(p), ix)
		if listed(p) {
			snap.Signed.Meta[layout.OwnersRole(p)+".json"] = metadata.MetaFile(owners.Signed.Version)
			snap.Signed.Meta[layout.ReleasesRole(p)+".json"] = metadata.MetaFile(releases.Signed.Version)
		}
	}
	admWriteSigned(t, a, shard, newRole, bin, a.key(shard, ceremony.OnlineNew))
	snap.Signed.Meta[newRole+".json"] = metadata.MetaFile(bin.Signed.Version)
	snap.Signed.Version++
	snap.Signed.Expires = expires
	a.publishSnapshot(shard, snap)
}

// ---------------------------------------------------------------------------
// 6. An owner-change request the owners did not sign enough.

func TestAttackAdminOwnerChangeRequest(t *testing.T) {
	needSQLite(t) // the attacker edits the SQLite state file
	rp := admSetup(t)
	srv := rp.srv
	alice := NewMaintainer(t, srv, "alice")
	bob := NewMaintainer(t, srv, "bob")
	v1 := []byte("guarded 1.0.0\n")
	alice.MustRun("project", "create", "guarded", "--key", "alice")
	alice.MustRun("release", "upload", "guarded", "1.0.0", WriteFile(t, t.TempDir(), "guarded-1.0.0.tar.gz", v1))
	rp.admin.MustRun("admin", "claim", "--all", "--keys", rp.keys, "--yes")
	shard := layout.ShardOf("guarded", admShards)
	metaDir := srv.BlobPath("metadata/" + shard)
	aliceID := admKeyID(t, filepath.Join(alice.Home, "keys", "alice.key"))
	dl := admPin(t, srv, rp.fp)
	ownersAre := func(id string) {
		t.Helper()
		admSays(t, "project show", dl.MustRun("project", "show", "guarded").Stdout,
			"claimed: only its owners", "owners (1 of 1 must sign owner changes):\n  "+id[:8]+"  ")
	}

	db, err := sql.Open("sqlite", "file:"+filepath.Join(srv.Data, "state.db")+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	setRequest := func(v int) {
		t.Helper()
		res, err := db.Exec(`UPDATE projects SET owner_request = ? WHERE name = 'guarded'`, v)
		if err != nil {
			t.Fatal(err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			t.Fatal("project guarded is not in the database")
		}
	}
	refused := func(want string, args ...string) {
		t.Helper()
		before := readTree(t, metaDir)
		rp.admin.MustFail(want, args...)
		admSameTree(t, "a refused ceremony", metaDir, before)
		ownersAre(aliceID)
	}

	// (a) The server flags a request nobody made.
	setRequest(1)
	admSays(t, "admin status", rp.admin.MustRun("admin", "status").Stdout, "owner-change requests: 1\n  guarded\n")
	refused("guarded has no owner-change request", "admin", "claim", "--all", "--keys", rp.keys, "--yes")
	refused("guarded is claimed already", "admin", "claim", "guarded", "--keys", rp.keys, "--yes")
	setRequest(0)

	// (b) Alice starts handing the project to bob: she adds him (a request
	// the admins would apply), then signs her own removal, which waits for
	// bob. The server publishes that half-signed owners role as if bob had
	// signed it.
	bobLine := strings.TrimSpace(bob.MustRun("key", "export", "bob").Stdout)
	bobID := admKeyID(t, filepath.Join(bob.Home, "keys", "bob.key"))
	alice.MustRun("owner", "add", "guarded", bobLine, "--yes")
	r := alice.MustRun("owner", "remove", "guarded", aliceID[:12], "--yes")
	m := admApproveHint.FindStringSubmatch(r.Stderr)
	if m == nil {
		t.Fatalf("owner remove did not wait for bob:\n%s", r.Stderr)
	}
	var list api.PendingList
	if err := json.Unmarshal(staticGet(t, srv.URL+"/api/v1/projects/guarded/pending"), &list); err != nil {
		t.Fatal(err)
	}
	var half *tufmeta.Targets
	for _, p := range list.Pending {
		if p.ID == m[2] {
			var req api.ChangeRequest
			if err := json.Unmarshal(p.Change, &req); err != nil {
				t.Fatal(err)
			}
			half = admDecodeTargets(t, req.OwnersRole)
		}
	}
	if half == nil {
		t.Fatalf("pending change %s is not listed", m[2])
	}
	if d, ok, _ := tufmeta.DeclaredOwners(half); !ok || !slices.Equal(d.KeyIDs, []string{bobID}) || len(half.Signatures) != 1 || half.Signatures[0].KeyID != aliceID {
		t.Fatalf("the pending owners role declares %v signed by %v; want bob, signed by alice alone", d.KeyIDs, half.Signatures)
	}
	a := newAttacker(t, srv)
	data, err := tufmeta.Encode(half)
	if err != nil {
		t.Fatal(err)
	}
	a.write(shard, layout.MetadataFile(layout.OwnersRole("guarded"), half.Signed.Version), data)
	snap := a.snapshot(shard)
	snap.Signed.Meta[layout.OwnersRole("guarded")+".json"] = metadata.MetaFile(half.Signed.Version)
	snap.Signed.Version++
	a.publishSnapshot(shard, snap)
	// It verifies through TUF (alice, the current owner, signed it) ...
	admMustGet(t, admPin(t, srv, rp.fp), "guarded", "guarded-1.0.0.tar.gz", v1)
	admSays(t, "admin status", rp.admin.MustRun("admin", "status").Stdout, "owner-change requests: 1\n  guarded\n")
	// ... but it is not an owner change: bob never signed it.
	refused("too few new owners signed the request", "admin", "claim", "--all", "--keys", rp.keys, "--yes")
	refused("too few new owners signed the request", "admin", "claim", "guarded", "--keys", rp.keys, "--yes")

	// (c) An owners role signed only by the keys it declares (mallory's).
	mallory, err := signing.Generate("mallory")
	if err != nil {
		t.Fatal(err)
	}
	forged := admDecodeTargets(t, data)
	forged.Signed.Version++
	tufmeta.SetDeclaredOwners(forged, tufmeta.NewDelegation([]signing.PublicKey{mallory.Public()}, 1))
	admWriteSigned(t, a, shard, layout.OwnersRole("guarded"), forged, mallory)
	snap = a.snapshot(shard)
	snap.Signed.Meta[layout.OwnersRole("guarded")+".json"] = metadata.MetaFile(forged.Signed.Version)
	snap.Signed.Version++
	a.publishSnapshot(shard, snap)
	before := readTree(t, metaDir)
	r = rp.admin.MustFail("failed verification", "admin", "claim", "--all", "--keys", rp.keys, "--yes")
	admSameTree(t, "a refused ceremony", metaDir, before)
	dl.MustFail("failed verification", "project", "show", "guarded")
}

// ---------------------------------------------------------------------------
// 7. A ceremony file tampered with.

func TestAttackAdminTamperedCeremony(t *testing.T) {
	rp := admSetup(t)
	srv := rp.srv
	k2 := admTwoAdmins(t, rp)
	a2 := admPin(t, srv, rp.fp)
	mallory, err := signing.Generate("mallory")
	if err != nil {
		t.Fatal(err)
	}
	const shard = "3"
	metaDir := srv.BlobPath("metadata/" + shard)
	earlier := func(d *time.Time) { *d = d.Add(-time.Second) }

	// A renewal of every offline role: admin 1 signs, then admin 2.
	renew := filepath.Join(t.TempDir(), "renew.json")
	r := rp.admin.MustRun("admin", "renew", "--force", "--keys", rp.keys, "-o", renew)
	admSays(t, "admin renew", r.Stderr, "root: 1 of 2 signatures", "claimed bin: 1 of 2 signatures", "saved to "+renew)

	// Tampered before admin 2 signs: admin 2's tool refuses and signs nothing.
	tampered := admEdit(t, renew, func(b *ceremony.Bundle) {
		admEditShard(t, b, shard, func(r *ceremony.Roles) { earlier(&r.Targets.Signed.Expires) })
	})
	orig, _ := os.ReadFile(tampered)
	r = a2.MustFail("changed after signing", "admin", "sign", tampered, "--keys", k2, "--yes")
	admSays(t, "admin sign of a tampered ceremony", r.Stderr, "refusing to sign", "targets of shard "+shard)
	if now, _ := os.ReadFile(tampered); !bytes.Equal(now, orig) {
		t.Fatal("admin sign changed a ceremony it refused")
	}

	r = a2.MustRun("admin", "sign", renew, "--keys", k2, "--yes")
	admSays(t, "admin sign", r.Stderr, "complete: submit it")

	// Tampered after both signed: a signed root, a signed claimed bin.
	before := readTree(t, metaDir)
	for _, tc := range []struct {
		name string
		edit func(r *ceremony.Roles)
	}{
		{"root", func(r *ceremony.Roles) { earlier(&r.Root.Signed.Expires) }},
		{"claimed bin", func(r *ceremony.Roles) { earlier(&r.Claimed.Signed.Expires) }},
	} {
		f := admEdit(t, renew, func(b *ceremony.Bundle) { admEditShard(t, b, shard, tc.edit) })
		r := rp.admin.MustFail("changed after signing", "admin", "submit", f, "--yes")
		admSays(t, "admin submit of a tampered "+tc.name, r.Stderr, "refusing to submit", "nothing was published")
		only := admEdit(t, f, func(b *ceremony.Bundle) { admOnly(b, shard) })
		admMustRefusePost(t, srv, only, "does not verify")
		admSameTree(t, "a tampered "+tc.name, metaDir, before)
	}

	// The genuine renewal publishes.
	r = rp.admin.MustRun("admin", "submit", renew, "--yes")
	admSays(t, "admin submit", r.Stderr, "published in 16 shard(s)")
	rp.fp = admNewFingerprint(t, r.Stderr) // new roots

	// Claiming: the claimed delegation's keys changed to mallory's.
	alice := NewMaintainer(t, srv, "alice")
	project := admNameInShard(t, "claimme", shard)
	v1 := []byte(project + " 1.0.0\n")
	alice.MustRun("project", "create", project, "--key", "alice")
	alice.MustRun("release", "upload", project, "1.0.0", WriteFile(t, t.TempDir(), project+"-1.0.0.tar.gz", v1))
	claim := filepath.Join(t.TempDir(), "claim.json")
	r = rp.admin.MustRun("admin", "claim", project, "--keys", rp.keys, "-o", claim)
	admSays(t, "admin claim", r.Stderr, "claim "+project, "claimed bin: 1 of 2 signatures", "saved to "+claim)
	before = readTree(t, metaDir)
	toMallory := func(delegation, claims bool) func(b *ceremony.Bundle) {
		return func(b *ceremony.Bundle) {
			admEditShard(t, b, shard, func(r *ceremony.Roles) {
				d := tufmeta.NewDelegation([]signing.PublicKey{mallory.Public()}, 1)
				if delegation {
					tufmeta.SetProjectDelegation(r.Claimed, project, d)
				}
				if claims {
					r.Claims[project] = d
				}
			})
		}
	}
	r = a2.MustFail("changed after signing", "admin", "sign", admEdit(t, claim, toMallory(true, true)), "--keys", k2, "--yes")
	admSays(t, "admin sign of a redirected claim", r.Stderr, "refusing to sign")
	r = a2.MustFail("claims "+project+" with other owner keys than it has in "+layout.NewRole(shard), "admin", "sign", admEdit(t, claim, toMallory(false, true)), "--keys", k2, "--yes")
	admSays(t, "admin sign of a claim with other claims", r.Stderr, "refusing to sign")

	a2.MustRun("admin", "sign", claim, "--keys", k2, "--yes")
	for _, tc := range []struct {
		name, want string
		edit       func(b *ceremony.Bundle)
	}{
		{"delegation and claims redirected", "does not verify", toMallory(true, true)},
		{"delegation redirected", "does not verify", toMallory(true, false)},
		{"claims record redirected", "changed after the admins' tool read it", toMallory(false, true)},
	} {
		f := admEdit(t, claim, tc.edit)
		rp.admin.MustFail("refusing to submit", "admin", "submit", f, "--yes")
		admMustRefusePost(t, srv, f, tc.want)
		admSameTree(t, "a tampered claim ("+tc.name+")", metaDir, before)
	}
	dl := admPin(t, srv, rp.fp)
	admSays(t, "project show", dl.MustRun("project", "show", project).Stdout, "not claimed yet")

	// The genuine claim publishes.
	admSays(t, "admin submit", rp.admin.MustRun("admin", "submit", claim, "--yes").Stderr, "published in 1 shard(s)")
	admSays(t, "project show", dl.MustRun("project", "show", project).Stdout, "claimed: only its owners")
	admMustGet(t, dl, project, project+"-1.0.0.tar.gz", v1)
}

// ---------------------------------------------------------------------------
// 8. A claim built before the project's owners changed.

func TestAttackAdminStaleClaim(t *testing.T) {
	rp := admSetup(t)
	srv := rp.srv
	k2 := admTwoAdmins(t, rp)
	a2 := admPin(t, srv, rp.fp)
	alice := NewMaintainer(t, srv, "alice")
	bob := NewMaintainer(t, srv, "bob")
	v1 := []byte("moving 1.0.0\n")
	alice.MustRun("project", "create", "moving", "--key", "alice")
	alice.MustRun("release", "upload", "moving", "1.0.0", WriteFile(t, t.TempDir(), "moving-1.0.0.tar.gz", v1))
	shard := layout.ShardOf("moving", admShards)
	metaDir := srv.BlobPath("metadata/" + shard)
	aliceID := admKeyID(t, filepath.Join(alice.Home, "keys", "alice.key"))
	bobID := admKeyID(t, filepath.Join(bob.Home, "keys", "bob.key"))

	// The admins build and sign a claim of moving (owner: alice).
	claim := filepath.Join(t.TempDir(), "claim.json")
	rp.admin.MustRun("admin", "claim", "moving", "--keys", rp.keys, "-o", claim)
	admSays(t, "admin sign", a2.MustRun("admin", "sign", claim, "--keys", k2, "--yes").Stderr, "complete: submit it")

	// Meanwhile the project, unclaimed, changes owners at once.
	alice.MustRun("owner", "add", "moving", strings.TrimSpace(bob.MustRun("key", "export", "bob").Stdout), "--yes")
	dl := admPin(t, srv, rp.fp)
	admSays(t, "project show", dl.MustRun("project", "show", "moving").Stdout, "not claimed yet", "owners (1 of 2 must sign owner changes):")

	before := readTree(t, metaDir)
	r := rp.admin.MustFail("claims moving with other owner keys than it has in "+layout.NewRole(shard), "admin", "submit", claim, "--yes")
	admSays(t, "admin submit of a stale claim", r.Stderr, "refusing to submit")
	admMustRefusePost(t, srv, claim, "the delegation of moving in "+layout.NewRole(shard)+" changed after the admins' tool read it; claim it again")

	// The claims record is not signed: someone holding the ceremony file
	// edits it to the project's current delegation. The signed claimed bin
	// still delegates moving to alice alone: refused.
	a := newAttacker(t, srv)
	newRole := layout.NewRole(shard)
	bin := admDecodeTargets(t, a.read(shard, layout.MetadataFile(newRole, a.snapshot(shard).Signed.Meta[newRole+".json"].Version)))
	current, _, err := tufmeta.TargetsDelegation(bin, layout.OwnersRole("moving"))
	if err != nil {
		t.Fatal(err)
	}
	if ids := slices.Sorted(slices.Values(current.KeyIDs)); !slices.Equal(ids, slices.Sorted(slices.Values([]string{aliceID, bobID}))) {
		t.Fatalf("moving's delegation in %s names %v; want alice and bob", newRole, ids)
	}
	edited := admEdit(t, claim, func(b *ceremony.Bundle) {
		admEditShard(t, b, shard, func(r *ceremony.Roles) { r.Claims["moving"] = current })
	})
	rp.admin.MustFail("refusing to submit", "admin", "submit", edited, "--yes")
	admMustRefusePost(t, srv, edited, "moving")
	admSameTree(t, "a stale claim", metaDir, before)
	admSays(t, "project show", dl.MustRun("project", "show", "moving").Stdout, "not claimed yet")

	// Claimed again from fresh state, it publishes with both owners.
	fresh := filepath.Join(t.TempDir(), "claim-again.json")
	rp.admin.MustRun("admin", "claim", "moving", "--keys", rp.keys, "-o", fresh)
	a2.MustRun("admin", "sign", fresh, "--keys", k2, "--yes")
	admSays(t, "admin submit", rp.admin.MustRun("admin", "submit", fresh, "--yes").Stderr, "claim moving", "published in 1 shard(s)")
	show := dl.MustRun("project", "show", "moving").Stdout
	admSays(t, "project show", show, "claimed: only its owners", "owners (1 of 2 must sign owner changes):", aliceID[:8], bobID[:8])
	admMustGet(t, dl, "moving", "moving-1.0.0.tar.gz", v1)
}
