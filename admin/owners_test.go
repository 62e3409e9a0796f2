package admin_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"hallmark.dev/hallmark/admin"
	"hallmark.dev/hallmark/signing"
	"hallmark.dev/hallmark/tufmeta"
)

var (
	ownerAlice = signing.FromSeed(bytes.Repeat([]byte{11}, 32), "alice")
	ownerBob   = signing.FromSeed(bytes.Repeat([]byte{12}, 32), "bob")
	ownerMal   = signing.FromSeed(bytes.Repeat([]byte{13}, 32), "mallory")
	chainStart = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
)

func owners(keys ...*signing.Key) tufmeta.Delegation {
	var pub []signing.PublicKey
	for _, k := range keys {
		pub = append(pub, k.Public())
	}
	return tufmeta.NewDelegation(pub, len(keys))
}

// ownersRole is version v of a project's owners role declaring declared
// (nil: declares nothing), signed by signers.
func ownersRole(t *testing.T, v int64, declared []*signing.Key, signers ...*signing.Key) *tufmeta.Targets {
	t.Helper()
	md := metadata.Targets(chainStart.Add(time.Duration(v) * 24 * time.Hour).Add(365 * 24 * time.Hour))
	md.Signed.Version = v
	if declared != nil {
		tufmeta.SetDeclaredOwners(md, owners(declared...))
	}
	tufmeta.SetLabels(md, map[string]string{ownerAlice.ID(): "Alice", ownerBob.ID(): "Bob"})
	if err := tufmeta.Sign(md, signers...); err != nil {
		t.Fatal(err)
	}
	return md
}

func TestVerifyOwnerChain(t *testing.T) {
	a, b, m := ownerAlice, ownerBob, ownerMal
	ks := func(k ...*signing.Key) []*signing.Key { return k }
	tests := []struct {
		desc    string
		history func() []*tufmeta.Targets
		current tufmeta.Delegation
		since   int64
		want    string // "" when the chain verifies
	}{
		{"created by alice, unchanged", func() []*tufmeta.Targets {
			return []*tufmeta.Targets{ownersRole(t, 1, ks(a), a), ownersRole(t, 2, ks(a), a)}
		}, owners(a), 1, ""},
		{"alice hands over to bob, both signing", func() []*tufmeta.Targets {
			return []*tufmeta.Targets{ownersRole(t, 1, ks(a), a), ownersRole(t, 2, ks(b), a, b), ownersRole(t, 3, ks(b), b)}
		}, owners(b), 2, ""},
		{"a version the server did not keep", func() []*tufmeta.Targets {
			return []*tufmeta.Targets{ownersRole(t, 1, ks(a), a), nil, ownersRole(t, 3, ks(a), a)}
		}, owners(a), 1, ""},
		{"the bin names a key the owners never added (online-key takeover)", func() []*tufmeta.Targets {
			return []*tufmeta.Targets{ownersRole(t, 1, ks(a), a), ownersRole(t, 2, ks(a), a)}
		}, owners(m), 0, "were not put there by the project's owners"},
		{"forged owners role signed by the new key only", func() []*tufmeta.Targets {
			return []*tufmeta.Targets{ownersRole(t, 1, ks(a), a), ownersRole(t, 2, ks(m), m)}
		}, owners(m), 0, "version 2 of its owners role is not signed by the owners in force before it"},
		{"owner change without the new owners' signatures", func() []*tufmeta.Targets {
			return []*tufmeta.Targets{ownersRole(t, 1, ks(a), a), ownersRole(t, 2, ks(m), a)}
		}, owners(m), 0, "without the new owners' signatures"},
		{"creation that declares no owners", func() []*tufmeta.Targets {
			return []*tufmeta.Targets{ownersRole(t, 1, nil, a)}
		}, owners(a), 0, "does not declare the owners"},
		{"creation not signed by the owners it names", func() []*tufmeta.Targets {
			return []*tufmeta.Targets{ownersRole(t, 1, ks(a), m)}
		}, owners(a), 0, "not signed by the owners it names"},
		{"no version 1", func() []*tufmeta.Targets {
			return []*tufmeta.Targets{nil, ownersRole(t, 2, ks(a), a)}
		}, owners(a), 0, "no version 1"},
		{"a file served under another version", func() []*tufmeta.Targets {
			return []*tufmeta.Targets{ownersRole(t, 1, ks(a), a), ownersRole(t, 1, ks(a), a)}
		}, owners(a), 0, "says it is version 1"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			h, err := admin.VerifyOwnerChain("demo", tt.history(), tt.current, 365*24*time.Hour)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("refused a genuine chain: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("VerifyOwnerChain = %v; want an error with %q", err, tt.want)
			case tt.want == "" && h.Since != tt.since:
				t.Fatalf("owners unchanged since version %d; want %d", h.Since, tt.since)
			}
		})
	}
}
