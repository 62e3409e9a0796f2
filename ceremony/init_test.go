package ceremony_test

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"hallmark.dev/hallmark/ceremony"
	"hallmark.dev/hallmark/layout"
	"hallmark.dev/hallmark/signing"
	"hallmark.dev/hallmark/trust"
	"hallmark.dev/hallmark/tufmeta"
)

func key(b byte, label string) *signing.Key {
	return signing.FromSeed(bytes.Repeat([]byte{b}, 32), label)
}

var (
	root1, root2 = key(1, "root 1"), key(2, "root 2")
	targetsKey   = key(3, "targets")
	claimKey     = key(4, "claim")
	secret       = bytes.Repeat([]byte{9}, signing.OnlineSecretSize)
	now          = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
)

func online(shard, role string) signing.PublicKey {
	k, err := signing.DeriveOnline(secret, shard, role)
	if err != nil {
		panic(err)
	}
	return k.Public()
}

func params(shards int) ceremony.Params {
	return ceremony.Params{
		Shards: shards,
		Keys: ceremony.Keys{
			Root: []signing.PublicKey{root1.Public(), root2.Public()}, RootThreshold: 2,
			Targets: []signing.PublicKey{targetsKey.Public()}, TargetsThreshold: 1,
			Claim: []signing.PublicKey{claimKey.Public()}, ClaimThreshold: 1,
		},
		Online: online,
		Policy: layout.DefaultPolicy(),
		Now:    now,
	}
}

func signers() ceremony.Signers {
	return ceremony.Signers{Root: []*signing.Key{root1, root2}, Targets: []*signing.Key{targetsKey}, Claim: []*signing.Key{claimKey}}
}

// The ceremony's output must be what a downloader accepts: every shard's
// root passes the trust pin as that shard and no other, targets verifies
// against root, the claimed bin against targets, and the claimed bin is
// consulted before the online new bin.
func TestInitSixteenShards(t *testing.T) {
	shards, tf, err := ceremony.Init(params(16), signers())
	if err != nil {
		t.Fatal(err)
	}
	if len(shards) != 16 || tf.Shards != 16 || tf.RootThreshold != 2 || len(tf.RootKeys) != 2 || tf.RootVersion != 1 {
		t.Fatalf("Init gave %d shards and trust file %+v", len(shards), tf)
	}
	onlineIDs := map[string]string{}
	for i, sh := range shards {
		if sh.ID != layout.ShardIDs(16)[i] {
			t.Errorf("shard %d has id %q", i, sh.ID)
		}
		rootBytes, err := tufmeta.Encode(sh.Root)
		if err != nil {
			t.Fatal(err)
		}
		root, err := tf.CheckShardRoot(sh.ID, rootBytes)
		if err != nil {
			t.Errorf("shard %s: the pin refuses its root: %v", sh.ID, err)
			continue
		}
		other := layout.ShardIDs(16)[(i+1)%16]
		if _, err := tf.CheckShardRoot(other, rootBytes); err == nil {
			t.Errorf("shard %s's root passes as shard %s", sh.ID, other)
		}
		if !root.Signed.ConsistentSnapshot {
			t.Errorf("shard %s: consistent snapshots are off", sh.ID)
		}
		if !root.Signed.Expires.Equal(now.Add(365 * 24 * time.Hour)) {
			t.Errorf("shard %s: root expires %v", sh.ID, root.Signed.Expires)
		}

		// targets, signed by the targets key root names.
		td, err := tufmeta.RootDelegation(root, "targets")
		if err != nil {
			t.Fatal(err)
		}
		if err := tufmeta.Verify(sh.Targets, td, "targets"); err != nil {
			t.Errorf("shard %s: %v", sh.ID, err)
		}
		for _, md := range []*tufmeta.Targets{sh.Targets, sh.Claimed} {
			if err := trust.CheckIdentity("targets", md.Signed.UnrecognizedFields, sh.ID, 16); err != nil {
				t.Errorf("shard %s: %v", sh.ID, err)
			}
		}

		// Bins: claimed first, then new; neither terminating; every project path.
		roles := sh.Targets.Signed.Delegations.Roles
		if len(roles) != 2 || roles[0].Name != layout.ClaimedRole(sh.ID) || roles[1].Name != layout.NewRole(sh.ID) {
			t.Fatalf("shard %s delegates %v", sh.ID, roles)
		}
		for _, r := range roles {
			if r.Terminating || !slices.Equal(r.Paths, layout.BinPaths()) {
				t.Errorf("shard %s: bin %s terminating=%v paths %v", sh.ID, r.Name, r.Terminating, r.Paths)
			}
		}
		cd, _, err := tufmeta.TargetsDelegation(sh.Targets, layout.ClaimedRole(sh.ID))
		if err != nil {
			t.Fatal(err)
		}
		if err := tufmeta.Verify(sh.Claimed, cd, layout.ClaimedRole(sh.ID)); err != nil {
			t.Errorf("shard %s: %v", sh.ID, err)
		}
		nd, _, _ := tufmeta.TargetsDelegation(sh.Targets, layout.NewRole(sh.ID))
		if !slices.Equal(nd.KeyIDs, []string{online(sh.ID, ceremony.OnlineNew).ID()}) {
			t.Errorf("shard %s: new bin keys %v are not the shard's online new key", sh.ID, nd.KeyIDs)
		}

		// Online keys are the shard's own.
		for _, role := range []string{"snapshot", "timestamp"} {
			d, err := tufmeta.RootDelegation(root, role)
			if err != nil || len(d.KeyIDs) != 1 || d.KeyIDs[0] != online(sh.ID, role).ID() {
				t.Errorf("shard %s: %s keys %v", sh.ID, role, d.KeyIDs)
				continue
			}
			if prev, dup := onlineIDs[d.KeyIDs[0]]; dup {
				t.Errorf("shard %s %s shares its key with %s", sh.ID, role, prev)
			}
			onlineIDs[d.KeyIDs[0]] = sh.ID + " " + role
		}
	}
}

func TestInitOneShard(t *testing.T) {
	shards, tf, err := ceremony.Init(params(1), signers())
	if err != nil {
		t.Fatal(err)
	}
	if len(shards) != 1 || shards[0].ID != "0" || tf.Shards != 1 {
		t.Fatalf("Init(1) = %d shards, first %q", len(shards), shards[0].ID)
	}
}

func TestInitRefusesBadParameters(t *testing.T) {
	tests := []struct {
		desc string
		edit func(p *ceremony.Params, s *ceremony.Signers)
	}{
		{"unsupported shard count", func(p *ceremony.Params, s *ceremony.Signers) { p.Shards = 10 }},
		{"root threshold 0", func(p *ceremony.Params, s *ceremony.Signers) { p.Keys.RootThreshold = 0 }},
		{"root threshold above the keys", func(p *ceremony.Params, s *ceremony.Signers) { p.Keys.RootThreshold = 3 }},
		{"no targets keys", func(p *ceremony.Params, s *ceremony.Signers) { p.Keys.Targets = nil }},
		{"claim threshold above the keys", func(p *ceremony.Params, s *ceremony.Signers) { p.Keys.ClaimThreshold = 2 }},
		{"too few root signers", func(p *ceremony.Params, s *ceremony.Signers) { s.Root = s.Root[:1] }},
		{"no claim signer", func(p *ceremony.Params, s *ceremony.Signers) { s.Claim = nil }},
		// Metadata signed by keys the root does not name would be refused
		// by every client: the ceremony must catch it before publishing.
		{"root signed by keys root does not name", func(p *ceremony.Params, s *ceremony.Signers) {
			s.Root = []*signing.Key{key(7, "x"), key(8, "y")}
		}},
		{"one root key given twice to meet a threshold of 2", func(p *ceremony.Params, s *ceremony.Signers) {
			s.Root = []*signing.Key{root1, root1}
		}},
		{"targets signed by another key", func(p *ceremony.Params, s *ceremony.Signers) { s.Targets = []*signing.Key{claimKey} }},
	}
	for _, tt := range tests {
		p, s := params(16), signers()
		tt.edit(&p, &s)
		if _, _, err := ceremony.Init(p, s); err == nil {
			t.Errorf("%s: Init succeeded", tt.desc)
		}
	}
}

func TestAddBinDelegation(t *testing.T) {
	d := &metadata.Delegations{Keys: map[string]*metadata.Key{}}
	ceremony.AddBinDelegation(d, "claimed.0", tufmeta.NewDelegation([]signing.PublicKey{claimKey.Public()}, 1))
	if len(d.Roles) != 1 || d.Roles[0].Terminating || d.Keys[claimKey.ID()] == nil {
		t.Errorf("AddBinDelegation = %+v", d)
	}
}
