package e2e

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"hallmark.dev/hallmark/ceremony"
	"hallmark.dev/hallmark/layout"
	"hallmark.dev/hallmark/server"
	"hallmark.dev/hallmark/signing"
	"hallmark.dev/hallmark/tufmeta"
)

// rollbackCase is one repository for a rollback attack: with the
// development witness, or without any.
var rollbackCases = []struct {
	name    string
	args    []string
	witness bool
}{
	{"with a witness", nil, true},
	{"without a witness (the attack must succeed)", []string{"--no-witness"}, false},
}

// rollbackClients are the clients of one shard, before an attack: warm
// ones that refreshed after the change the attack undoes, and the means
// to make fresh ones afterwards.
type rollbackClients struct {
	srv         *Server
	shard       string
	root        []byte
	warm        *User
	warmGoTUF   *goTUF
	node, jsDir string
	warmJS      *tufJS
	warmJSCache string
}

func newRollbackClients(t *testing.T, srv *Server, shard, project string) *rollbackClients {
	t.Helper()
	node, dir := needNodeProject(t, "tufjs")
	c := &rollbackClients{srv: srv, shard: shard, node: node, jsDir: dir}
	c.root = fetchInitialRoot(t, srv, fetchTrust(t, srv), shard)
	c.warm = pinnedUser(t, srv, project)
	c.warmGoTUF = newGoTUF(t, srv, shard, c.root)
	c.warmGoTUF.refresh()
	c.warmJS = newTufJS(t, node, dir, srv, shard, c.root)
	c.warmJSCache = t.TempDir()
	c.warmJS.mustGet(layout.IndexPath(project), c.warmJSCache)
	return c
}

// TestAttackWitnessClaimedBinRollback: the attacker holds the data
// directory, the database, the blobs and the online secret (no offline
// key), and may ask the witness to co-sign anything, as the server does.
// After the admins claimed project P, it serves a snapshot that lists the
// claimed bin at its version from before the claim, a new-projects bin that
// delegates P to the attacker's key, and P's roles signed by that key, with
// a backdoored file; it signs snapshot and timestamp with the real online
// keys. With a witness, the witness refuses to co-sign (a rollback of the
// claimed bin) and every client — hallmark get, go-tuf and tuf-js, fresh
// and warm — refuses. Without a witness, fresh clients download the
// attacker's file: the attack the witness exists to stop.
func TestAttackWitnessClaimedBinRollback(t *testing.T) {
	for _, tc := range rollbackCases {
		t.Run(tc.name, func(t *testing.T) {
			srv := StartServer(t, tc.args...)
			att := newAttacker(t, srv)
			alice := NewMaintainer(t, srv, "alice")
			const project, file = "fortress", "fortress-1.0.0.tar.gz"
			shard := projectShard(t, project)
			genuine := []byte("fortress 1.0.0, signed by alice\n")
			alice.MustRun("project", "create", project, "--key", "alice")
			alice.MustRun("release", "upload", project, "1.0.0", WriteFile(t, t.TempDir(), file, genuine))
			claimed := layout.ClaimedRole(shard) + ".json"
			preClaim := att.snapshot(shard).Signed.Meta[claimed].Version

			admin := NewUser(t, srv)
			admin.MustRun("trust", srv.URL, "--yes")
			admin.MustRun("admin", "claim", project, "--keys", filepath.Join(srv.Data, server.DevKeysDir), "--yes")
			if v := att.snapshot(shard).Signed.Meta[claimed].Version; v <= preClaim {
				t.Fatalf("the claim did not publish a new claimed bin (%d → %d)", preClaim, v)
			}
			c := newRollbackClients(t, srv, shard, project)

			// The forgery.
			mallory, err := signing.Generate("alice <alice@example.org>")
			if err != nil {
				t.Fatal(err)
			}
			evil := []byte("fortress 1.0.0, BACKDOORED\n")
			snap := att.snapshot(shard)
			expires := time.Now().AddDate(0, 0, 7).UTC().Truncate(time.Second)
			newRole := layout.NewRole(shard)
			bin := admDecodeTargets(t, att.read(shard, layout.MetadataFile(newRole, snap.Signed.Meta[newRole+".json"].Version)))
			bin.Signed.Version++
			bin.Signed.Expires = expires
			takeover := tufmeta.NewDelegation([]signing.PublicKey{mallory.Public()}, 1)
			tufmeta.SetProjectDelegation(bin, project, takeover)
			owners := metadata.Targets(expires)
			owners.Signed.Version = snap.Signed.Meta[project+".json"].Version + 1
			owners.Signed.Delegations = &metadata.Delegations{Keys: takeover.Keys, Roles: []metadata.DelegatedRole{{
				Name: layout.ReleasesRole(project), KeyIDs: takeover.KeyIDs, Threshold: 1, Terminating: true, Paths: layout.DelegationPaths(project),
			}}}
			ix, err := (&layout.Index{Project: project, Releases: []layout.Release{{Version: "1.0.0", Files: []layout.FileEntry{
				{Name: file, SHA256: hexDigest(evil), Length: int64(len(evil))},
			}}}}).Marshal()
			if err != nil {
				t.Fatal(err)
			}
			releases := metadata.Targets(expires)
			releases.Signed.Version = snap.Signed.Meta[layout.ReleasesRole(project)+".json"].Version + 1
			target := layout.FilePath(project, "1.0.0", file)
			releases.Signed.Targets[target] = signedTarget(evil)
			releases.Signed.Targets[layout.IndexPath(project)] = signedTarget(ix)
			admWriteSigned(t, att, shard, layout.OwnersRole(project), owners, mallory)
			admWriteSigned(t, att, shard, layout.ReleasesRole(project), releases, mallory)
			admWriteSigned(t, att, shard, newRole, bin, att.key(shard, ceremony.OnlineNew))
			admServeTarget(t, srv, target, evil)
			admServeTarget(t, srv, layout.IndexPath(project), ix)
			snap.Signed.Meta[claimed] = metadata.MetaFile(preClaim) // the rollback
			snap.Signed.Meta[newRole+".json"] = metadata.MetaFile(bin.Signed.Version)
			snap.Signed.Meta[project+".json"] = metadata.MetaFile(owners.Signed.Version)
			snap.Signed.Meta[layout.ReleasesRole(project)+".json"] = metadata.MetaFile(releases.Signed.Version)
			snap.Signed.Version++
			snap.Signed.Expires = expires
			att.publishSnapshot(shard, snap)

			if tc.witness {
				if len(att.refusals) != 1 || !strings.Contains(att.refusals[0], "rollback: the snapshot of shard "+shard+" lists "+claimed) {
					t.Fatalf("the witness's answers to the forged timestamp: %q; want a refusal naming the claimed bin's rollback", att.refusals)
				}
				c.allRefuse(t, project, target)
				return
			}
			// Without a witness: warm clients refuse the rollback (TUF's own
			// check), fresh ones take the attacker's file.
			c.warmRefuse(t, project, target)
			fresh := pinnedUser(t, srv, "")
			out := t.TempDir()
			fresh.MustRun("get", project, "-o", out)
			if got, err := os.ReadFile(filepath.Join(out, file)); err != nil || !bytes.Equal(got, evil) {
				t.Fatalf("without a witness a fresh hallmark get downloaded %q; the attack should have succeeded", got)
			}
			up := newGoTUF(t, srv, shard, c.root).refresh()
			if info, err := up.GetTargetInfo(target); err != nil || info.Length != int64(len(evil)) {
				t.Fatalf("without a witness a fresh go-tuf found %v, %v; the attack should have succeeded", info, err)
			}
			if got := newTufJS(t, c.node, c.jsDir, srv, shard, c.root).mustGet(target, t.TempDir()); !bytes.Equal(got, evil) {
				t.Fatal("without a witness a fresh tuf-js downloaded other bytes; the attack should have succeeded")
			}
		})
	}
}

// allRefuse checks that fresh and warm clients of every kind refuse the
// shard's served metadata and download nothing.
func (c *rollbackClients) allRefuse(t *testing.T, project, target string) {
	t.Helper()
	c.warmRefuse(t, project, target)
	fresh := pinnedUser(t, c.srv, "")
	out := t.TempDir()
	r := fresh.MustFail("failed verification", "get", project, "-o", out)
	if !strings.Contains(r.Stderr, "failed verification") {
		t.Fatalf("a fresh hallmark get does not say the metadata failed verification:\n%s", r.Stderr)
	}
	mustBeEmpty(t, out)
	if err := newGoTUF(t, c.srv, c.shard, c.root).updater().Refresh(); err == nil || !strings.Contains(err.Error(), "timestamp") {
		t.Fatalf("a fresh go-tuf refreshed over the forged timestamp: %v", err)
	}
	if r := newTufJS(t, c.node, c.jsDir, c.srv, c.shard, c.root).get(target, filepath.Join(t.TempDir(), "out"), t.TempDir()); r.Code == 0 || !strings.Contains(r.Stderr, "timestamp") {
		t.Fatalf("a fresh tuf-js accepted the forged timestamp: exit %d\n%s", r.Code, r.Stderr)
	}
}

// warmRefuse checks that the clients that saw the newer state refuse.
func (c *rollbackClients) warmRefuse(t *testing.T, project, target string) {
	t.Helper()
	out := t.TempDir()
	c.warm.MustFail("failed verification", "get", project, "-o", out)
	mustBeEmpty(t, out)
	if up := c.warmGoTUF.updater(); up.Refresh() == nil {
		if _, err := up.GetTargetInfo(target); err == nil {
			t.Fatal("a warm go-tuf found the attacker's target")
		}
	}
	if r := c.warmJS.get(target, filepath.Join(t.TempDir(), "out"), c.warmJSCache); r.Code == 0 {
		t.Fatal("a warm tuf-js downloaded the attacker's target")
	}
}

// TestAttackWitnessReleasesRollback: the same attacker hides a security
// release from fresh clients by serving a new snapshot that lists the
// project's releases role at its version from before the release. With a
// witness nobody accepts it; without one, a fresh client is served the
// vulnerable release as the latest.
func TestAttackWitnessReleasesRollback(t *testing.T) {
	for _, tc := range rollbackCases {
		t.Run(tc.name, func(t *testing.T) {
			srv := StartServer(t, tc.args...)
			att := newAttacker(t, srv)
			alice := NewMaintainer(t, srv, "alice")
			const project = "patched"
			shard := projectShard(t, project)
			dir := t.TempDir()
			alice.MustRun("project", "create", project, "--key", "alice")
			alice.MustRun("release", "upload", project, "1.0.0", WriteFile(t, dir, "patched-1.0.0.tar.gz", []byte("1.0.0, vulnerable\n")))
			role := layout.ReleasesRole(project) + ".json"
			before := att.snapshot(shard).Signed.Meta[role].Version
			alice.MustRun("release", "upload", project, "1.0.1", WriteFile(t, dir, "patched-1.0.1.tar.gz", []byte("1.0.1, the fix\n")))
			c := newRollbackClients(t, srv, shard, project)

			snap := att.snapshot(shard)
			snap.Signed.Meta[role] = metadata.MetaFile(before)
			snap.Signed.Version++
			att.publishSnapshot(shard, snap)

			target := layout.FilePath(project, "1.0.1", "patched-1.0.1.tar.gz")
			if tc.witness {
				if len(att.refusals) != 1 || !strings.Contains(att.refusals[0], "lists "+role+" at version") {
					t.Fatalf("the witness's answers: %q; want a refusal naming the releases role", att.refusals)
				}
				c.allRefuse(t, project, target)
				return
			}
			c.warmRefuse(t, project, target)
			fresh := pinnedUser(t, srv, "")
			if got := fresh.MustRun("versions", project).Stdout; got != "1.0.0\n" {
				t.Fatalf("without a witness a fresh client sees versions %q; the attack should hide 1.0.1", got)
			}
			if _, err := newGoTUF(t, srv, shard, c.root).refresh().GetTargetInfo(target); err == nil {
				t.Fatal("without a witness a fresh go-tuf still finds 1.0.1; the attack should hide it")
			}
		})
	}
}
