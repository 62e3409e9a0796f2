package e2e

import (
	"testing"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"hallmark.dev/hallmark/layout"
	"hallmark.dev/hallmark/tufmeta"
)

// finalAttacks run last, each once per project they name, the database
// attack first: they leave what they did in place (the witness co-signs
// it, so nothing can be put back; the server-code attack publishes a
// snapshot the server's store does not know), and the project stays
// unusable for downloaders — which an attacker who holds the server can
// always achieve.
var finalAttacks = []struct {
	name, attacker, project, clients, refusal string
}{
	{"database rows: the stored owners role names the attacker, who then uploads", capDatabase, duoDescribed, "hallmark and go-tuf, fresh and warm, direct",
		"refused: by the server, or, if it publishes, by every client (the served owners role names no such key); SQLite only"},
	{"server code: a release signed by the attacker published over the project's own", capServerCode, bothProjectKinds, allClients + ", direct",
		"refused by every client: the releases role is not signed by the keys the owners named (the witness co-signs: nothing rolls back)"},
}

// evilRelease puts release 6.6.6 of p, with an index listing it, into the
// blob store and returns the releases role (unsigned) that lists them on
// top of base.
func evilRelease(t *testing.T, r *suiteRepo, p *suiteProject, base *tufmeta.Targets) *tufmeta.Targets {
	t.Helper()
	role := govCloneTargets(t, base)
	role.Signatures = nil
	role.Signed.Version++
	evil := []byte("backdoored " + p.name + "\n")
	ix := &layout.Index{Project: p.name, Releases: []layout.Release{{Version: "6.6.6", Files: []layout.FileEntry{{Name: p.name + "-6.6.6.tar.gz", SHA256: hexDigest(evil), Length: int64(len(evil))}}}}}
	ixData, err := ix.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	for path, data := range map[string][]byte{p.target("6.6.6"): evil, layout.IndexPath(p.name): ixData} {
		role.Signed.Targets[path] = signedTarget(data)
		admServeTarget(t, r.srv, path, data)
	}
	return role
}

// runFinalAttacks runs finalAttacks against r.
func runFinalAttacks(t *testing.T, r *suiteRepo) {
	t.Run(finalAttacks[0].name, func(t *testing.T) {
		t.Logf("attacker: %s; expected: %s", finalAttacks[0].attacker, finalAttacks[0].refusal)
		db := govDB(t, r.srv) // skips unless the state is in SQLite
		p := &suiteProject{kind: "unclaimed", name: r.duo, shard: layout.ShardOf(r.duo, r.shards)}
		p.root = fetchInitialRoot(t, r.srv, fetchTrust(t, r.srv), p.shard)
		warmTUF := newGoTUF(t, r.srv, p.shard, p.root)
		if err := goTUFGet(warmTUF, layout.IndexPath(r.duo)); err != nil {
			t.Fatalf("warm go-tuf: %v", err)
		}
		verified := govVerified(t, r.bob, r.duo)
		m := mallory(t)
		owners := govCloneTargets(t, verified.OwnersRole)
		d := owners.Signed.Delegations
		d.Keys[m.ID()] = m.Public().TUF()
		d.Roles[0].KeyIDs = append(d.Roles[0].KeyIDs, m.ID())
		d.Roles[0].Threshold = 1
		govSign(t, owners, m)
		data, err := tufmeta.Encode(owners)
		if err != nil {
			t.Fatal(err)
		}
		res, err := db.Exec(`UPDATE roles SET data = ? WHERE shard = ? AND role = ? AND version = ?`, data, p.shard, layout.OwnersRole(r.duo), owners.Signed.Version)
		if err != nil {
			t.Fatal(err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			t.Fatalf("updated %d rows", n)
		}
		rel := nextForgedRelease(t, r.bob, r.duo, "6.6.6", map[string][]byte{p.name + "-6.6.6.tar.gz": []byte("backdoored " + p.name + "\n")}).sign(t, m)
		status, e := sendWrite(t, r.srv, rel.request(t))
		t.Logf("the server answered mallory's upload: HTTP %d %s", status, e.Message)
		want := "has no version 6.6.6"
		if status < 300 {
			want = "failed verification"
		}
		p.latest = "6.6.6"
		mustRefuse(t, clients{
			fresh:    func(t *testing.T) *User { return pinnedUser(t, r.srv, "") },
			warm:     r.warm,
			freshTUF: func(t *testing.T) *goTUF { return newGoTUF(t, r.srv, p.shard, p.root) },
			warmTUF:  warmTUF, described: "direct",
		}, p, "6.6.6", want)
	})

	for _, p := range r.projects {
		t.Run(p.kind+"/"+finalAttacks[1].name, func(t *testing.T) {
			t.Logf("attacker: %s; expected: %s", finalAttacks[1].attacker, finalAttacks[1].refusal)
			m := mallory(t)
			cur := currentFile(t, r, p.shard, layout.ReleasesRole(p.name))
			role := evilRelease(t, r, p, decodeTargets(t, r.att.read(p.shard, cur)))
			govSign(t, role, m)
			data, err := tufmeta.Encode(role)
			if err != nil {
				t.Fatal(err)
			}
			r.att.write(p.shard, layout.MetadataFile(layout.ReleasesRole(p.name), role.Signed.Version), data)
			snap := r.att.snapshot(p.shard)
			snap.Signed.Version++
			snap.Signed.Meta[layout.ReleasesRole(p.name)+".json"] = metadata.MetaFile(role.Signed.Version)
			refusals := len(r.att.refusals)
			r.att.publishSnapshot(p.shard, snap)
			if len(r.att.refusals) != refusals {
				t.Fatalf("the witness refused to co-sign: %s", r.att.refusals[len(r.att.refusals)-1])
			}
			mustRefuse(t, r.direct(p), p, "6.6.6", "failed verification")
		})
	}
}
