package validation_test

import (
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"hallmark.dev/hallmark/layout"
	"hallmark.dev/hallmark/signing"
	"hallmark.dev/hallmark/tufmeta"
	"hallmark.dev/hallmark/validation"
)

// addCarol is the owners role with which alice adds carol as a maintainer:
// version 2 of the published owners role, signed by alice.
func addCarol(t *testing.T) *tufmeta.Targets {
	return sign(t, ownersRole(2, 1, alice, bob, carol), alice)
}

func releasesDelegation(md *tufmeta.Targets) *metadata.DelegatedRole {
	return &md.Signed.Delegations.Roles[0]
}

func TestCheckOwners(t *testing.T) {
	tests := []struct {
		desc     string
		owners   []*signing.Key // the project's owners, as its bin names them
		thresh   int            // owner threshold
		propose  func(t *testing.T) *tufmeta.Targets
		want     validation.Outcome
		conflict bool
		reason   string
	}{
		{
			desc: "the owner adds a maintainer", owners: ownerBy, thresh: 1,
			propose: addCarol, want: validation.Accept,
		},
		{
			desc: "the owner raises the release threshold", owners: ownerBy, thresh: 1,
			propose: func(t *testing.T) *tufmeta.Targets { return sign(t, ownersRole(2, 2, alice, bob), alice) },
			want:    validation.Accept,
		},
		{
			desc: "two owners required, one signed", owners: []*signing.Key{alice, bob}, thresh: 2,
			propose: addCarol, want: validation.Pending,
		},
		{
			desc: "two owners required, both signed", owners: []*signing.Key{alice, bob}, thresh: 2,
			propose: func(t *testing.T) *tufmeta.Targets { return sign(t, addCarol(t), alice, bob) },
			want:    validation.Accept,
		},
		{
			desc: "a maintainer who is not an owner signs", owners: ownerBy, thresh: 1,
			propose: func(t *testing.T) *tufmeta.Targets { return sign(t, addCarol(t), bob) },
			want:    validation.Reject, reason: "not one of",
		},
		{
			desc: "a stranger adds herself", owners: ownerBy, thresh: 1,
			propose: func(t *testing.T) *tufmeta.Targets { return sign(t, addCarol(t), carol) },
			want:    validation.Reject, reason: "not one of",
		},
		{
			desc: "built on an old version", owners: ownerBy, thresh: 1,
			propose: func(t *testing.T) *tufmeta.Targets { return sign(t, ownersRole(1, 1, alice, bob, carol), alice) },
			want:    validation.Reject, conflict: true,
		},
		{
			desc: "jumps a version", owners: ownerBy, thresh: 1,
			propose: func(t *testing.T) *tufmeta.Targets { return sign(t, ownersRole(3, 1, alice, bob, carol), alice) },
			want:    validation.Reject, conflict: true,
		},
		{
			desc: "expires beyond the policy", owners: ownerBy, thresh: 1,
			propose: func(t *testing.T) *tufmeta.Targets {
				md := ownersRole(2, 1, alice, bob, carol)
				md.Signed.Expires = now.AddDate(3, 0, 0)
				return sign(t, md, alice)
			},
			want: validation.Reject, reason: "expires",
		},
		{
			desc: "already expired", owners: ownerBy, thresh: 1,
			propose: func(t *testing.T) *tufmeta.Targets {
				md := ownersRole(2, 1, alice, bob, carol)
				md.Signed.Expires = now.Add(-time.Minute)
				return sign(t, md, alice)
			},
			want: validation.Reject, reason: "expires",
		},
		{
			desc: "the owners role lists files", owners: ownerBy, thresh: 1,
			propose: func(t *testing.T) *tufmeta.Targets {
				md := ownersRole(2, 1, alice, bob)
				md.Signed.Targets[src110.path()] = targetFile([]byte(src110.content))
				return sign(t, md, alice)
			},
			want: validation.Reject, reason: "no files",
		},
		{
			desc: "a non-terminating delegation (online keys could add to it)", owners: ownerBy, thresh: 1,
			propose: func(t *testing.T) *tufmeta.Targets {
				md := ownersRole(2, 1, alice, bob)
				releasesDelegation(md).Terminating = false
				return sign(t, md, alice)
			},
			want: validation.Reject, reason: "terminating",
		},
		{
			desc: "delegation paths outside the project", owners: ownerBy, thresh: 1,
			propose: func(t *testing.T) *tufmeta.Targets {
				md := ownersRole(2, 1, alice, bob)
				releasesDelegation(md).Paths = []string{"*", "*/*"}
				return sign(t, md, alice)
			},
			want: validation.Reject, reason: "paths",
		},
		{
			desc: "delegation paths of another project", owners: ownerBy, thresh: 1,
			propose: func(t *testing.T) *tufmeta.Targets {
				md := ownersRole(2, 1, alice, bob)
				releasesDelegation(md).Paths = layout.DelegationPaths("other")
				return sign(t, md, alice)
			},
			want: validation.Reject, reason: "paths",
		},
		{
			desc: "only one of the two delegation paths", owners: ownerBy, thresh: 1,
			propose: func(t *testing.T) *tufmeta.Targets {
				md := ownersRole(2, 1, alice, bob)
				releasesDelegation(md).Paths = []string{"demo/*"}
				return sign(t, md, alice)
			},
			want: validation.Reject, reason: "paths",
		},
		{
			desc: "hash-prefix delegation", owners: ownerBy, thresh: 1,
			propose: func(t *testing.T) *tufmeta.Targets {
				md := ownersRole(2, 1, alice, bob)
				releasesDelegation(md).Paths = nil
				releasesDelegation(md).PathHashPrefixes = []string{"00"}
				return sign(t, md, alice)
			},
			want: validation.Reject, reason: "paths",
		},
		{
			desc: "delegates to a role with another name", owners: ownerBy, thresh: 1,
			propose: func(t *testing.T) *tufmeta.Targets {
				md := ownersRole(2, 1, alice, bob)
				releasesDelegation(md).Name = "other.releases"
				return sign(t, md, alice)
			},
			want: validation.Reject, reason: "delegate",
		},
		{
			desc: "delegates two roles", owners: ownerBy, thresh: 1,
			propose: func(t *testing.T) *tufmeta.Targets {
				md := ownersRole(2, 1, alice, bob)
				extra := *releasesDelegation(md)
				extra.Name = "demo.extra"
				md.Signed.Delegations.Roles = append(md.Signed.Delegations.Roles, extra)
				return sign(t, md, alice)
			},
			want: validation.Reject, reason: "exactly one",
		},
		{
			desc: "delegates nothing", owners: ownerBy, thresh: 1,
			propose: func(t *testing.T) *tufmeta.Targets {
				md := ownersRole(2, 1, alice, bob)
				md.Signed.Delegations = nil
				return sign(t, md, alice)
			},
			want: validation.Reject, reason: "exactly one",
		},
		{
			desc: "succinct hashed bins", owners: ownerBy, thresh: 1,
			propose: func(t *testing.T) *tufmeta.Targets {
				md := ownersRole(2, 1, alice, bob)
				md.Signed.Delegations.SuccinctRoles = &metadata.SuccinctRoles{KeyIDs: []string{alice.ID()}, Threshold: 1, BitLength: 4, NamePrefix: "demo.bin"}
				return sign(t, md, alice)
			},
			want: validation.Reject, reason: "exactly one",
		},
		{
			desc: "release threshold zero (anyone could publish)", owners: ownerBy, thresh: 1,
			propose: func(t *testing.T) *tufmeta.Targets {
				md := ownersRole(2, 1, alice, bob)
				releasesDelegation(md).Threshold = 0
				return sign(t, md, alice)
			},
			want: validation.Reject, reason: "threshold",
		},
		{
			desc: "release threshold above the maintainers", owners: ownerBy, thresh: 1,
			propose: func(t *testing.T) *tufmeta.Targets { return sign(t, ownersRole(2, 3, alice, bob), alice) },
			want:    validation.Reject, reason: "threshold",
		},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			st := published(t, 1)
			st.Owners = tufmeta.NewDelegation(pubs(tt.owners...), tt.thresh)
			d := validation.CheckOwners(st, tt.propose(t), env())
			if d.Outcome != tt.want {
				t.Fatalf("outcome %v (%v); want %v", d.Outcome, d.Reason, tt.want)
			}
			if tt.want == validation.Reject {
				checkReason(t, d.Reason, tt.conflict, tt.reason)
			}
		})
	}
}

// Creating a project: no owners role yet, so the proposal must be version 1.
func TestCheckOwnersOfANewProject(t *testing.T) {
	st := &validation.Project{Name: project, Owners: tufmeta.NewDelegation(pubs(alice), 1), Tombstones: map[string]string{}}
	if d := validation.CheckOwners(st, sign(t, ownersRole(1, 1, alice), alice), env()); d.Outcome != validation.Accept {
		t.Errorf("version 1: %v (%v); want Accept", d.Outcome, d.Reason)
	}
	if d := validation.CheckOwners(st, sign(t, ownersRole(2, 1, alice), alice), env()); d.Outcome != validation.Reject {
		t.Errorf("version 2 of a new project: %v; want Reject", d.Outcome)
	}
}

func TestCheckKeys(t *testing.T) {
	d := tufmeta.NewDelegation(pubs(alice, bob), 1)
	keys := func() map[string]*metadata.Key {
		return map[string]*metadata.Key{alice.ID(): alice.Public().TUF(), bob.ID(): bob.Public().TUF()}
	}
	ids := []string{alice.ID(), bob.ID()}
	if err := validation.CheckKeys(d.Keys, d.KeyIDs, 2); err != nil {
		t.Fatalf("CheckKeys of a good delegation: %v", err)
	}
	tests := []struct {
		desc      string
		keys      map[string]*metadata.Key
		ids       []string
		threshold int
	}{
		{"threshold 0", keys(), ids, 0},
		{"threshold above the keys", keys(), ids, 3},
		{"negative threshold", keys(), ids, -1},
		{"no keys", map[string]*metadata.Key{}, nil, 1},
		{"key under another key's id", map[string]*metadata.Key{alice.ID(): bob.Public().TUF(), bob.ID(): bob.Public().TUF()}, ids, 1},
		{"made-up key id", map[string]*metadata.Key{"00ff": alice.Public().TUF(), bob.ID(): bob.Public().TUF()}, []string{"00ff", bob.ID()}, 1},
		{"a key named twice (to meet a threshold of 2 alone)", keys(), []string{alice.ID(), alice.ID()}, 2},
		{"a key listed but not named", keys(), []string{alice.ID()}, 1},
		{"a key named but not listed", map[string]*metadata.Key{alice.ID(): alice.Public().TUF()}, ids, 1},
		{"an RSA key", func() map[string]*metadata.Key {
			k := keys()
			k[bob.ID()] = &metadata.Key{Type: metadata.KeyTypeRSASSA_PSS_SHA256, Scheme: metadata.KeySchemeRSASSA_PSS_SHA256, Value: k[bob.ID()].Value}
			return k
		}(), ids, 1},
		{"an ECDSA key whose value is ed25519 hex", func() map[string]*metadata.Key {
			k := keys()
			k[bob.ID()] = &metadata.Key{Type: metadata.KeyTypeECDSA_SHA2_P256, Scheme: metadata.KeySchemeECDSA_SHA2_P256, Value: k[bob.ID()].Value}
			return k
		}(), ids, 1},
		{"a short ed25519 key", func() map[string]*metadata.Key {
			k := keys()
			short := &metadata.Key{Type: metadata.KeyTypeEd25519, Scheme: metadata.KeySchemeEd25519, Value: metadata.KeyVal{PublicKey: "abcd"}}
			id, _ := short.ID()
			delete(k, bob.ID())
			k[id] = short
			return k
		}(), nil, 1},
		{"an ed25519 key with extra fields", func() map[string]*metadata.Key {
			k := keys()
			k[bob.ID()].UnrecognizedFields = map[string]any{"x-note": "hi"}
			return k
		}(), ids, 1},
	}
	for _, tt := range tests {
		ids := tt.ids
		if ids == nil && len(tt.keys) > 0 {
			for id := range tt.keys {
				ids = append(ids, id)
			}
		}
		if err := validation.CheckKeys(tt.keys, ids, tt.threshold); err == nil {
			t.Errorf("%s: CheckKeys accepted it", tt.desc)
		}
	}
}

func TestOutcomeString(t *testing.T) {
	for o, want := range map[validation.Outcome]string{validation.Reject: "rejected", validation.Pending: "pending", validation.Accept: "accepted"} {
		if o.String() != want {
			t.Errorf("%d.String() = %q", o, o.String())
		}
	}
}
