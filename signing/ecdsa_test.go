package signing_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/secure-systems-lab/go-securesystemslib/cjson"
	"github.com/theupdateframework/go-tuf/v2/metadata"

	"hallmark.dev/hallmark/signing"
)

// ecdsaKey is an in-memory P-256 key standing in for a token's.
func ecdsaKey(t *testing.T, label string) *signing.Key {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := signing.FromSigner(priv, label, nil)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestECDSAKeysAreStandardTUFKeys(t *testing.T) {
	k := ecdsaKey(t, "alice on a token")
	tk := k.Public().TUF()
	if tk.Type != "ecdsa" || tk.Scheme != "ecdsa-sha2-nistp256" || !strings.HasPrefix(tk.Value.PublicKey, "-----BEGIN PUBLIC KEY-----\n") {
		t.Fatalf("TUF() = %+v", tk)
	}
	// go-tuf reads the key as the same P-256 key.
	pub, err := tk.ToPublicKey()
	if ec, ok := pub.(*ecdsa.PublicKey); err != nil || !ok || !ec.Equal(k.Public().Key) {
		t.Fatalf("go-tuf reads the key as %T, %v", pub, err)
	}
	back, err := signing.PublicFromTUF(tk)
	if err != nil || back.ID() != k.ID() {
		t.Fatalf("PublicFromTUF = %v, %v", back, err)
	}
	// The one-line form round-trips.
	line := k.Public().String()
	got, err := signing.ParsePublicKey(line)
	if err != nil || got.ID() != k.ID() || got.Label != "alice on a token" || !strings.HasPrefix(line, "hallmark-ecdsa-p256:04") {
		t.Fatalf("ParsePublicKey(%q) = %v, %v", line, got, err)
	}
}

func TestECDSASignaturesVerifyWithGoTUF(t *testing.T) {
	k := ecdsaKey(t, "")
	root := metadata.Root()
	root.Signed.Keys = map[string]*metadata.Key{k.ID(): k.Public().TUF()}
	root.Signed.Roles[metadata.ROOT] = &metadata.Role{KeyIDs: []string{k.ID()}, Threshold: 1}
	md := metadata.Targets()
	// Sign the canonical form, as tufmeta.Sign does.
	canon, err := cjson.EncodeCanonical(md.Signed)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := k.Sign(canon)
	if err != nil {
		t.Fatal(err)
	}
	md.Signatures = []metadata.Signature{{KeyID: k.ID(), Signature: sig}}
	if err := root.VerifyDelegate(metadata.ROOT, md); err != nil {
		t.Fatalf("go-tuf refuses the ECDSA signature: %v", err)
	}
	if !k.Public().Verify(canon, sig) || k.Public().Verify(append(canon, ' '), sig) {
		t.Fatal("Verify disagrees with go-tuf")
	}
	other := ecdsaKey(t, "")
	if other.Public().Verify(canon, sig) {
		t.Fatal("the signature verifies under another key")
	}
}

func TestPublicFromTUFRefusesOtherECDSASpellings(t *testing.T) {
	k := ecdsaKey(t, "")
	good := k.Public().TUF()
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	k384, _ := metadata.KeyFromPublicKey(&p384.PublicKey)
	b, _ := k.Public().Key.(*ecdsa.PublicKey).Bytes()
	tests := []struct {
		desc string
		key  metadata.Key
	}{
		{"spec keytype ecdsa-sha2-nistp256", metadata.Key{Type: "ecdsa-sha2-nistp256", Scheme: good.Scheme, Value: good.Value}},
		{"P-384 key", metadata.Key{Type: good.Type, Scheme: good.Scheme, Value: k384.Value}},
		{"hex point instead of PEM", metadata.Key{Type: good.Type, Scheme: good.Scheme, Value: metadata.KeyVal{PublicKey: hex.EncodeToString(b)}}},
		{"PEM without final newline", metadata.Key{Type: good.Type, Scheme: good.Scheme, Value: metadata.KeyVal{PublicKey: strings.TrimSuffix(good.Value.PublicKey, "\n")}}},
		{"PEM with CRLF", metadata.Key{Type: good.Type, Scheme: good.Scheme, Value: metadata.KeyVal{PublicKey: strings.ReplaceAll(good.Value.PublicKey, "\n", "\r\n")}}},
		{"two PEM blocks", metadata.Key{Type: good.Type, Scheme: good.Scheme, Value: metadata.KeyVal{PublicKey: good.Value.PublicKey + good.Value.PublicKey}}},
		{"ecdsa scheme p384", metadata.Key{Type: good.Type, Scheme: "ecdsa-sha2-nistp384", Value: good.Value}},
	}
	for _, tt := range tests {
		if _, err := signing.PublicFromTUF(&tt.key); err == nil {
			t.Errorf("%s: PublicFromTUF accepted the key", tt.desc)
		}
	}
}

func TestFromSignerRefusesOtherCurves(t *testing.T) {
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if _, err := signing.FromSigner(p384, "", nil); err == nil {
		t.Error("FromSigner accepted a P-384 key")
	}
}

func TestParsePublicKeyRefusesBadECDSAPoints(t *testing.T) {
	b, _ := ecdsaKey(t, "").Public().Key.(*ecdsa.PublicKey).Bytes()
	bad := append([]byte{}, b...)
	bad[64] ^= 1 // no longer on the curve
	for _, s := range []string{
		"hallmark-ecdsa-p256:" + hex.EncodeToString(bad),
		"hallmark-ecdsa-p256:" + hex.EncodeToString(b[:33]),
		"hallmark-ecdsa-p256:zz",
		"hallmark-ecdsa-p256:",
	} {
		if _, err := signing.ParsePublicKey(s); err == nil {
			t.Errorf("ParsePublicKey(%q) accepted it", s)
		}
	}
}
