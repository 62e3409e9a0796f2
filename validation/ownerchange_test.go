package validation_test

import (
	"testing"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"hallmark.dev/hallmark/signing"
	"hallmark.dev/hallmark/tufmeta"
	"hallmark.dev/hallmark/validation"
)

// declaring returns version 2 of demo's owners role (maintainers alice and
// bob) declaring the owner set, signed by signers.
func declaring(t *testing.T, owners tufmeta.Delegation, signers ...*signing.Key) *tufmeta.Targets {
	md := ownersRole(2, 1, alice, bob)
	tufmeta.SetDeclaredOwners(md, owners)
	return sign(t, md, signers...)
}

func owners(threshold int, keys ...*signing.Key) tufmeta.Delegation {
	return tufmeta.NewDelegation(pubs(keys...), threshold)
}

// An owner change needs a threshold of the current owners and a threshold
// of the new ones (as TUF requires of a root rotation), so neither a lost
// key nor a stranger's key can take a project over.
func TestCheckOwnersOwnerChange(t *testing.T) {
	tests := []struct {
		desc    string
		propose func(t *testing.T) *tufmeta.Targets
		want    validation.Outcome
		change  bool // the decision names a new owner set
	}{
		{"the owners declared unchanged", func(t *testing.T) *tufmeta.Targets {
			return declaring(t, owners(1, alice), alice)
		}, validation.Accept, false},
		{"alice adds bob as a co-owner", func(t *testing.T) *tufmeta.Targets {
			return declaring(t, owners(1, alice, bob), alice)
		}, validation.Accept, true},
		{"alice hands over to bob, bob has not signed yet", func(t *testing.T) *tufmeta.Targets {
			return declaring(t, owners(1, bob), alice)
		}, validation.Pending, true},
		{"alice hands over to bob, both signed", func(t *testing.T) *tufmeta.Targets {
			return declaring(t, owners(1, bob), alice, bob)
		}, validation.Accept, true},
		{"bob claims the project alone", func(t *testing.T) *tufmeta.Targets {
			return declaring(t, owners(1, bob), bob)
		}, validation.Pending, true},
		{"two owners both required, both signed", func(t *testing.T) *tufmeta.Targets {
			return declaring(t, owners(2, alice, bob), alice, bob)
		}, validation.Accept, true},
		{"two owners both required, bob missing", func(t *testing.T) *tufmeta.Targets {
			return declaring(t, owners(2, alice, bob), alice)
		}, validation.Pending, true},
		{"a key outside both owner sets signs", func(t *testing.T) *tufmeta.Targets {
			return declaring(t, owners(1, alice, bob), alice, carol)
		}, validation.Reject, false},
		{"declared owners with threshold 0", func(t *testing.T) *tufmeta.Targets {
			return declaring(t, owners(0, alice, bob), alice, bob)
		}, validation.Reject, false},
		{"declared owners with a key under another key's id", func(t *testing.T) *tufmeta.Targets {
			d := owners(1, alice, bob)
			d.Keys[bob.ID()] = carol.Public().TUF()
			return declaring(t, d, alice, bob, carol)
		}, validation.Reject, false},
		// The declared set is signed data the maintainer tool builds the
		// next owner change from: it must hold the owners' true keys.
		{"the current owner's id declared with another key", func(t *testing.T) *tufmeta.Targets {
			d := owners(1, alice)
			d.Keys[alice.ID()] = carol.Public().TUF()
			return declaring(t, d, alice)
		}, validation.Reject, false},
		{"a malformed owners field", func(t *testing.T) *tufmeta.Targets {
			md := ownersRole(2, 1, alice, bob)
			md.Signed.UnrecognizedFields = map[string]any{tufmeta.OwnersField: "alice"}
			return sign(t, md, alice)
		}, validation.Reject, false},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			st := published(t, 1) // owner: alice, threshold 1
			d := validation.CheckOwners(st, tt.propose(t), env())
			if d.Outcome != tt.want {
				t.Fatalf("outcome %v (%v); want %v", d.Outcome, d.Reason, tt.want)
			}
			if (d.OwnerChange != nil) != tt.change {
				t.Errorf("OwnerChange = %+v; want set=%v", d.OwnerChange, tt.change)
			}
		})
	}
}

// A stranger may propose to take a project over; it must never publish
// without the owners.
func TestCheckOwnersTakeoverByAStrangerNeverPublishes(t *testing.T) {
	st := published(t, 1)
	for _, signers := range [][]*signing.Key{{carol}, {carol, bob}} {
		d := validation.CheckOwners(st, declaring(t, owners(1, carol), signers...), env())
		if d.Outcome == validation.Accept {
			t.Errorf("takeover signed by %d non-owner key(s) was accepted", len(signers))
		}
	}
}

// Changing maintainers must come with releases the new maintainers signed,
// or downloaders would refuse every file of the project.
func TestCheckReleasesStillValid(t *testing.T) {
	st := published(t, 1) // releases signed by alice
	tests := []struct {
		desc   string
		owners *tufmeta.Targets
		ok     bool
	}{
		{"carol joins alice and bob", ownersRole(2, 1, alice, bob, carol), true},
		{"bob leaves", ownersRole(2, 1, alice), true},
		{"alice, the only signer of the releases, leaves", ownersRole(2, 1, bob, carol), false},
		{"the releases threshold rises to 2", ownersRole(2, 2, alice, bob), false},
	}
	for _, tt := range tests {
		err := validation.CheckReleasesStillValid(project, tt.owners, st.ReleasesRole)
		if (err == nil) != tt.ok {
			t.Errorf("%s: %v; want ok=%v", tt.desc, err, tt.ok)
		}
	}
	if err := validation.CheckReleasesStillValid(project, ownersRole(1, 1, carol), nil); err != nil {
		t.Errorf("a project without releases: %v", err)
	}
	noDelegation := ownersRole(2, 1, alice)
	noDelegation.Signed.Delegations = &metadata.Delegations{}
	if err := validation.CheckReleasesStillValid(project, noDelegation, st.ReleasesRole); err == nil {
		t.Error("an owners role without the releases delegation passed")
	}
}
