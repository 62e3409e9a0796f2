package admin_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"hallmark.dev/hallmark/admin"
	"hallmark.dev/hallmark/ceremony"
	"hallmark.dev/hallmark/layout"
	"hallmark.dev/hallmark/signing"
	"hallmark.dev/hallmark/trust"
	"hallmark.dev/hallmark/tufmeta"
	"hallmark.dev/hallmark/validation"
)

// fixedKey is a key derived from a repeated byte: the same key in every run.
func fixedKey(b byte, label string) *signing.Key {
	return signing.FromSeed(bytes.Repeat([]byte{b}, 32), label)
}

// foreignClaimInit is an init ceremony of a 1-shard repository signed by admin 1
// (root-1, targets, claim) and waiting for admin 2 (root-2), root 2 of 2.
func foreignClaimInit(t *testing.T) (*ceremony.Bundle, []*signing.Key, validation.Env) {
	t.Helper()
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	secret := bytes.Repeat([]byte{9}, signing.OnlineSecretSize)
	online, err := ceremony.ExportOnline(1, func(shard, role string) (*signing.Key, error) { return signing.DeriveOnline(secret, shard, role) })
	if err != nil {
		t.Fatal(err)
	}
	r1, r2, tk, ck := fixedKey(1, "root-1"), fixedKey(2, "root-2"), fixedKey(3, "targets"), fixedKey(4, "claim")
	b, _, err := admin.Init(admin.InitParams{
		Online: online, Root: []signing.PublicKey{r1.Public(), r2.Public()}, RootThreshold: 2,
		Targets: []signing.PublicKey{tk.Public()}, TargetsThreshold: 1,
		Claim: []signing.PublicKey{ck.Public()}, ClaimThreshold: 1, Now: now,
	}, []*signing.Key{r1, tk, ck})
	if err != nil {
		t.Fatal(err)
	}
	return b, []*signing.Key{r1, tk, ck, r2}, validation.Env{Policy: layout.DefaultPolicy(), Now: now}
}

// TestInitBundleIsExplained: admin 2's tool, checking an init ceremony,
// shows the claimed bins' delegations and the trust summary it carries, so
// admin 1 cannot pre-claim project names for a key of their own (a
// terminating delegation that would shadow whoever creates "requests"
// later) or hand out a trust.json with other root keys unseen.
func TestInitBundleIsExplained(t *testing.T) {
	mallory := fixedKey(66, "mallory")
	t.Run("pre-claimed name", func(t *testing.T) {
		b, keys, env := foreignClaimInit(t)
		r, err := b.Changes[0].Decode()
		if err != nil {
			t.Fatal(err)
		}
		tufmeta.SetProjectDelegation(r.Claimed, "requests", tufmeta.NewDelegation([]signing.PublicKey{mallory.Public()}, 1))
		r.Claimed.Signatures = nil
		if err := tufmeta.Sign(r.Claimed, keys[2]); err != nil {
			t.Fatal(err)
		}
		if err := b.Changes[0].Encode(r); err != nil {
			t.Fatal(err)
		}
		rep, err := admin.Check(b, admin.Base{}, env, nil)
		if err == nil && !strings.Contains(strings.Join(rep.Lines, "\n"), "requests") {
			t.Fatalf("admin 2's tool accepts an init ceremony whose claimed bin delegates \"requests\" to mallory, explaining only:\n%s", strings.Join(rep.Lines, "\n"))
		}
	})
	t.Run("trust summary", func(t *testing.T) {
		b, _, env := foreignClaimInit(t)
		b.Trust = &trust.File{Shards: 1, RootKeys: map[string]*metadata.Key{mallory.ID(): mallory.Public().TUF()}, RootThreshold: 1, RootVersion: 1}
		rep, err := admin.Check(b, admin.Base{}, env, nil)
		if err == nil {
			t.Fatalf("admin 2's tool accepts an init ceremony whose trust summary (what every user will pin, fingerprint %s) names only mallory's key, explaining:\n%s", b.Trust.Fingerprint(), strings.Join(rep.Lines, "\n"))
		}
	})
}
