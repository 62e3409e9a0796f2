package e2e

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"hallmark.dev/hallmark/ceremony"
	"hallmark.dev/hallmark/layout"
	"hallmark.dev/hallmark/tufmeta"
)

// ceremonyAttack is a claim ceremony for the unclaimed project, posted to
// the server as anyone can: the claimed bin that delegates the project
// to its owners, signed by keys other than a threshold of the claim keys.
// Every shard of it must be refused with want, and nothing may change.
type ceremonyAttack struct {
	name, attacker, refusal, want string
	// sign signs the proposed claimed bin of shard.
	sign func(t *testing.T, r *suiteRepo, shard string, bin *tufmeta.Targets)
}

var ceremonyAttacks = []ceremonyAttack{
	{"ceremony: a claim signed by a foreign key", capOutsider, "422: not signed by a threshold of the claim keys", "which is not one of the repository's claim keys",
		func(t *testing.T, r *suiteRepo, _ string, bin *tufmeta.Targets) { govSign(t, bin, mallory(t)) }},
	{"ceremony: a claim with its signatures removed", capOutsider, "422: not signed by a threshold of the claim keys", "is not signed",
		func(t *testing.T, r *suiteRepo, _ string, bin *tufmeta.Targets) {}},
	{"ceremony: a claim signed with the shard's online keys", capOnline, "422: online keys sign no claimed bin", "which is not one of the repository's claim keys",
		func(t *testing.T, r *suiteRepo, shard string, bin *tufmeta.Targets) {
			govSign(t, bin, r.att.key(shard, layout.RoleTimestamp), r.att.key(shard, layout.RoleSnapshot), r.att.key(shard, ceremony.OnlineNew))
		}},
	{"ceremony: a foreign signature under the claim key's id", capOutsider, "422: the signature does not verify", "does not verify",
		func(t *testing.T, r *suiteRepo, shard string, bin *tufmeta.Targets) {
			claimed := decodeTargets(t, r.att.read(shard, currentFile(t, r, shard, layout.ClaimedRole(shard))))
			govSign(t, bin, mallory(t))
			bin.Signatures[0].KeyID = claimed.Signatures[0].KeyID
		}},
}

// currentFile is the file name of role's current version in shard.
func currentFile(t *testing.T, r *suiteRepo, shard, role string) string {
	t.Helper()
	m, ok := r.att.snapshot(shard).Signed.Meta[role+".json"]
	if !ok {
		t.Fatalf("the snapshot of shard %s lists no %s", shard, role)
	}
	return layout.MetadataFile(role, m.Version)
}

func decodeTargets(t *testing.T, data []byte) *tufmeta.Targets {
	t.Helper()
	md, err := tufmeta.Decode[metadata.TargetsType](data)
	if err != nil {
		t.Fatal(err)
	}
	return md
}

// runCeremonyAttacks posts every forged claim of the unclaimed project.
func runCeremonyAttacks(t *testing.T, r *suiteRepo) {
	p := r.projects[1]
	if p.kind != "unclaimed" {
		t.Fatalf("project %s is %s", p.name, p.kind)
	}
	for _, a := range ceremonyAttacks {
		t.Run(a.name, func(t *testing.T) {
			t.Logf("attacker: %s; expected: %s", a.attacker, a.refusal)
			newBin := decodeTargets(t, r.att.read(p.shard, currentFile(t, r, p.shard, layout.NewRole(p.shard))))
			owners, _, err := tufmeta.TargetsDelegation(newBin, layout.OwnersRole(p.name))
			if err != nil {
				t.Fatal(err)
			}
			bin := decodeTargets(t, r.att.read(p.shard, currentFile(t, r, p.shard, layout.ClaimedRole(p.shard))))
			bin.Signatures = nil
			bin.Signed.Version++
			bin.Signed.Expires = time.Now().AddDate(0, 0, 60).UTC().Truncate(time.Second)
			tufmeta.SetProjectDelegation(bin, p.name, owners)
			a.sign(t, r, p.shard, bin)
			ch := ceremony.ShardChange{Shard: p.shard}
			if err := ch.Encode(&ceremony.Roles{Shard: p.shard, Claimed: bin, Claims: map[string]tufmeta.Delegation{p.name: owners}}); err != nil {
				t.Fatal(err)
			}
			b := &ceremony.Bundle{Format: ceremony.BundleFormat, Kind: ceremony.KindClaim, Shards: r.shards, Created: time.Now().UTC(), Changes: []ceremony.ShardChange{ch}}
			path := filepath.Join(t.TempDir(), "claim.json")
			if err := b.Save(path); err != nil {
				t.Fatal(err)
			}
			before := captureRepoState(t, r.srv, r.verifier, r.names()...)
			admMustRefusePost(t, r.srv, path, a.want)
			assertSameRepoState(t, before, captureRepoState(t, r.srv, r.verifier, r.names()...))
			if govVersions(t, r.verifier, p.name).Claimed {
				t.Fatalf("%s is claimed", p.name)
			}
		})
	}
}
