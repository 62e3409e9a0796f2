package signing_test

import (
	"crypto"
	"crypto/ed25519"
	"io"
	"strings"
	"testing"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"hallmark.dev/hallmark/signing"
)

func TestPublicKeyStringRoundTrip(t *testing.T) {
	for _, label := range []string{"", "alice", "Alice Liddell <alice@example.org>"} {
		pub := signing.FromSeed(seed(7), label).Public()
		s := pub.String()
		if !strings.HasPrefix(s, "hallmark-ed25519:") || strings.Contains(s, "\n") {
			t.Errorf("String() = %q is not the one-line form", s)
		}
		got, err := signing.ParsePublicKey(s)
		if err != nil {
			t.Fatalf("ParsePublicKey(%q): %v", s, err)
		}
		if got.ID() != pub.ID() || got.Label != label {
			t.Errorf("ParsePublicKey(%q) = %s %q", s, got.ID(), got.Label)
		}
		// Pasted with surrounding blanks, as from a terminal or an e-mail.
		if got, err := signing.ParsePublicKey("  " + s + "\n"); err != nil || got.ID() != pub.ID() {
			t.Errorf("ParsePublicKey with blanks = %v, %v", got, err)
		}
	}
}

func TestParsePublicKeyRefusesMalformedInput(t *testing.T) {
	hex64 := strings.Repeat("ab", 32)
	for _, s := range []string{
		"",
		"alice",
		hex64,
		"ed25519:" + hex64,
		"hallmark-ed25519:",
		"hallmark-ed25519:" + hex64[:62],
		"hallmark-ed25519:" + hex64 + "ab",
		"hallmark-ed25519:" + strings.Repeat("zz", 32),
		"hallmark-rsa:" + hex64,
		"HALLMARK-ED25519:" + hex64,
	} {
		if got, err := signing.ParsePublicKey(s); err == nil {
			t.Errorf("ParsePublicKey(%q) = %v; want an error", s, got)
		}
	}
}

func TestKeyIDsAreTUFKeyIDs(t *testing.T) {
	k := signing.FromSeed(seed(8), "x")
	want, err := k.Public().TUF().ID()
	if err != nil {
		t.Fatal(err)
	}
	if k.ID() != want || k.Public().ShortID() != want[:8] {
		t.Errorf("ID() = %s, ShortID() = %s; TUF says %s", k.ID(), k.Public().ShortID(), want)
	}
	// The label is not part of the identity.
	if signing.FromSeed(seed(8), "y").ID() != want {
		t.Error("the label changed the key id")
	}
	back, err := signing.PublicFromTUF(k.Public().TUF())
	if err != nil || back.ID() != want {
		t.Errorf("PublicFromTUF = %v, %v", back, err)
	}
}

func TestPublicFromTUFRefusesOtherKeyTypes(t *testing.T) {
	good := signing.FromSeed(seed(9), "").Public().TUF()
	tests := []struct {
		desc string
		key  metadata.Key
	}{
		{"rsa", metadata.Key{Type: metadata.KeyTypeRSASSA_PSS_SHA256, Scheme: metadata.KeySchemeRSASSA_PSS_SHA256, Value: good.Value}},
		{"ecdsa", metadata.Key{Type: metadata.KeyTypeECDSA_SHA2_P256, Scheme: metadata.KeySchemeECDSA_SHA2_P256, Value: good.Value}},
		{"ed25519 type, other scheme", metadata.Key{Type: metadata.KeyTypeEd25519, Scheme: "ed448", Value: good.Value}},
		{"short key", metadata.Key{Type: metadata.KeyTypeEd25519, Scheme: metadata.KeySchemeEd25519, Value: metadata.KeyVal{PublicKey: "abcd"}}},
		{"not hex", metadata.Key{Type: metadata.KeyTypeEd25519, Scheme: metadata.KeySchemeEd25519, Value: metadata.KeyVal{PublicKey: strings.Repeat("x", 64)}}},
	}
	for _, tt := range tests {
		if _, err := signing.PublicFromTUF(&tt.key); err == nil {
			t.Errorf("%s: PublicFromTUF accepted the key", tt.desc)
		}
	}
}

func TestVerify(t *testing.T) {
	k := signing.FromSeed(seed(10), "")
	other := signing.FromSeed(seed(11), "")
	msg := []byte("hello")
	sig, err := k.Sign(msg)
	if err != nil {
		t.Fatal(err)
	}
	if !k.Public().Verify(msg, sig) {
		t.Error("a key's own signature does not verify")
	}
	if k.Public().Verify([]byte("hellO"), sig) {
		t.Error("the signature verifies for another message")
	}
	if other.Public().Verify(msg, sig) {
		t.Error("the signature verifies under another key")
	}
	if (signing.PublicKey{Key: ed25519.PublicKey{1, 2, 3}}).Verify(msg, sig) {
		t.Error("a malformed public key verifies")
	}
}

func TestGenerateMakesDistinctKeys(t *testing.T) {
	a, err := signing.Generate("a")
	if err != nil {
		t.Fatal(err)
	}
	b, err := signing.Generate("a")
	if err != nil {
		t.Fatal(err)
	}
	if a.ID() == b.ID() {
		t.Error("two generated keys are the same")
	}
}

// lyingToken is a signer that claims one public key and signs with another
// (a swapped or faulty hardware token).
type lyingToken struct {
	claimed ed25519.PublicKey
	real    ed25519.PrivateKey
}

func (l lyingToken) Public() crypto.PublicKey { return l.claimed }
func (l lyingToken) Sign(r io.Reader, msg []byte, o crypto.SignerOpts) ([]byte, error) {
	return l.real.Sign(r, msg, o)
}

// Attack: a token that signs with another key than it claims is caught at
// signing, not by the clients that would refuse the metadata later. Keys
// in memory are not checked (the standard library signs), and their
// signatures verify.
func TestSignCatchesATokenSigningWithAnotherKey(t *testing.T) {
	claimed := ed25519.NewKeyFromSeed(seed(1))
	other := ed25519.NewKeyFromSeed(seed(2))
	tests := []struct {
		name    string
		signer  crypto.Signer
		wantErr bool
	}{
		{"key in memory", claimed, false},
		{"honest token", lyingToken{claimed.Public().(ed25519.PublicKey), claimed}, false},
		{"token signing with another key", lyingToken{claimed.Public().(ed25519.PublicKey), other}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k, err := signing.FromSigner(tc.signer, "t", nil)
			if err != nil {
				t.Fatal(err)
			}
			msg := []byte("the canonical form of a role")
			sig, err := k.Sign(msg)
			if tc.wantErr {
				if err == nil || !strings.Contains(err.Error(), "does not verify under its own public key") {
					t.Fatalf("Sign = %v; want the mismatch named", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !k.Public().Verify(msg, sig) {
				t.Error("signature does not verify")
			}
		})
	}
}
