package validation_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"strings"
	"testing"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"hallmark.dev/hallmark/signing"
	"hallmark.dev/hallmark/tufmeta"
	"hallmark.dev/hallmark/validation"
)

// tokenKey is an ECDSA P-256 key as a PIV token (a YubiKey) holds one.
func tokenKey(t *testing.T) *signing.Key {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := signing.FromSigner(priv, "token", nil)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// Maintainers with token keys (ECDSA P-256) are accepted wherever ed25519
// keys are, and ECDSA keys have one spelling, so one key never stands under
// two key ids.
func TestCheckKeysWithECDSAKeys(t *testing.T) {
	tk := tokenKey(t)
	d := tufmeta.NewDelegation(pubs(alice, tk), 2)
	if err := validation.CheckKeys(d.Keys, d.KeyIDs, 2); err != nil {
		t.Fatalf("CheckKeys refused an ed25519 + ECDSA delegation: %v", err)
	}
	respelled := func(f func(k *metadata.Key)) (map[string]*metadata.Key, []string) {
		k := tk.Public().TUF()
		f(k)
		id, _ := k.ID()
		return map[string]*metadata.Key{alice.ID(): alice.Public().TUF(), id: k}, []string{alice.ID(), id}
	}
	tests := []struct {
		desc string
		edit func(k *metadata.Key)
	}{
		{"the spec's keytype spelling", func(k *metadata.Key) { k.Type = "ecdsa-sha2-nistp256" }},
		{"PEM with CRLF line ends", func(k *metadata.Key) { k.Value.PublicKey = strings.ReplaceAll(k.Value.PublicKey, "\n", "\r\n") }},
		{"PEM without its last newline", func(k *metadata.Key) { k.Value.PublicKey = strings.TrimSuffix(k.Value.PublicKey, "\n") }},
		{"P-384 scheme", func(k *metadata.Key) { k.Scheme = "ecdsa-sha2-nistp384" }},
	}
	for _, tt := range tests {
		keys, ids := respelled(tt.edit)
		if err := validation.CheckKeys(keys, ids, 1); err == nil {
			t.Errorf("%s: CheckKeys accepted it", tt.desc)
		}
	}
	// The same token key under two ids (go-tuf would count it twice).
	keys, ids := respelled(func(k *metadata.Key) { k.Type = "ecdsa-sha2-nistp256" })
	keys[tk.ID()] = tk.Public().TUF()
	ids = append(ids, tk.ID())
	if err := validation.CheckKeys(keys, ids, 2); err == nil {
		t.Error("CheckKeys accepted one ECDSA key under two key ids")
	}
}

// A release signed on a token reaches the threshold like any other.
func TestCheckReleasesSignedWithAnECDSAKey(t *testing.T) {
	tk := tokenKey(t)
	st := published(t, 1)
	st.OwnersRole = sign(t, ownersRole(1, 1, tk), alice)
	rel, ix := releases(t, 5, src100, whl100, src110)
	if d := validation.CheckReleases(st, sign(t, rel, tk), ix, env()); d.Outcome != validation.Accept {
		t.Fatalf("release signed with an ECDSA key: %v (%v); want Accept", d.Outcome, d.Reason)
	}
	rel, ix = releases(t, 5, src100, whl100, src110)
	if d := validation.CheckReleases(st, sign(t, rel, alice), ix, env()); d.Outcome == validation.Accept {
		t.Fatal("a release signed by a key that is no longer a maintainer was accepted")
	}
}
