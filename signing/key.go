// Package signing holds Hallmark's signing keys: ed25519 keys with a label,
// stored encrypted with a passphrase (scrypt + XChaCha20-Poly1305); keys on
// PKCS#11 hardware tokens (ECDSA P-256, or ed25519 where the token has it),
// registered by an RFC 7512 URI and opened with the token's PIN; the
// one-line public form maintainers exchange; and the derivation of each
// shard's online keys from the server's one online secret.
//
// A Key never leaves this package in raw form; callers sign through it.
// Every key is one of the two standard TUF key types Hallmark accepts:
// ed25519/ed25519, or ecdsa/ecdsa-sha2-nistp256 (PEM public key, ASN.1 DER
// signatures over the SHA-256 of the message), as go-tuf, tuf-js and
// python-tuf verify them.
package signing

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// Key is a private signing key with a human label: an ed25519 key in
// memory, or a key that stays on a hardware token.
type Key struct {
	label  string
	pub    PublicKey
	seed   []byte        // ed25519 seed of a key held in memory; nil for token keys
	signer crypto.Signer // signs: ed25519.PrivateKey, *ecdsa.PrivateKey or a token
	closer io.Closer     // releases the token session; nil for keys in memory
}

// Generate creates a new random ed25519 key.
func Generate(label string) (*Key, error) {
	seed := make([]byte, ed25519.SeedSize)
	if _, err := rand.Read(seed); err != nil {
		return nil, fmt.Errorf("failed to generate key: %w", err)
	}
	return FromSeed(seed, label), nil
}

// FromSeed builds a key from a 32-byte ed25519 seed.
func FromSeed(seed []byte, label string) *Key {
	priv := ed25519.NewKeyFromSeed(seed)
	return &Key{
		label:  label,
		pub:    PublicKey{Label: label, Key: priv.Public().(ed25519.PublicKey)},
		seed:   append([]byte(nil), seed...),
		signer: priv,
	}
}

// FromSigner builds a key that signs with s, an ed25519 or ECDSA P-256
// signer (a hardware token's, for instance). closer, if not nil, is called
// by Close.
func FromSigner(s crypto.Signer, label string, closer io.Closer) (*Key, error) {
	pub := PublicKey{Label: label, Key: s.Public()}
	if err := pub.check(); err != nil {
		return nil, err
	}
	return &Key{label: label, pub: pub, signer: s, closer: closer}, nil
}

// Label is the key's human label ("Alice <alice@example.org>").
func (k *Key) Label() string { return k.label }

// Public returns the key's public half.
func (k *Key) Public() PublicKey { return k.pub }

// ID returns the TUF key id of the key.
func (k *Key) ID() string { return k.pub.ID() }

// OnToken reports whether the key stays on a hardware token.
func (k *Key) OnToken() bool { return k.seed == nil }

// Sign signs msg (TUF signs the canonical JSON of a role's signed part) as
// the key's TUF scheme says: ed25519 over msg, or ECDSA P-256 over
// SHA-256(msg) with an ASN.1 DER signature.
func (k *Key) Sign(msg []byte) ([]byte, error) {
	var sig []byte
	var err error
	switch k.pub.Key.(type) {
	case ed25519.PublicKey:
		sig, err = k.signer.Sign(rand.Reader, msg, crypto.Hash(0))
	case *ecdsa.PublicKey:
		digest := sha256.Sum256(msg)
		sig, err = k.signer.Sign(rand.Reader, digest[:], crypto.SHA256)
	default:
		err = errors.New("unsupported key type")
	}
	if err != nil {
		return nil, fmt.Errorf("failed to sign with key %s: %w", k.pub.ShortID(), err)
	}
	// A token that signs with another key (or garbage) must not go
	// unnoticed. A key in memory is signed with by the standard library,
	// whose signatures need no such check; it cost the publisher two
	// ed25519 verifications per batch, more than the signatures.
	if !inMemory(k.signer) && !k.pub.Verify(msg, sig) {
		return nil, fmt.Errorf("key %s made a signature that does not verify under its own public key", k.pub.ShortID())
	}
	return sig, nil
}

// inMemory reports whether a signer is the standard library's own
// private key type rather than a token or another implementation.
func inMemory(s crypto.Signer) bool {
	switch s.(type) {
	case ed25519.PrivateKey, *ecdsa.PrivateKey:
		return true
	}
	return false
}

// Close releases what the key holds open (a token session). Keys in memory
// need no closing.
func (k *Key) Close() error {
	if k.closer == nil {
		return nil
	}
	return k.closer.Close()
}

// PublicKey is an ed25519 (ed25519.PublicKey) or ECDSA P-256
// (*ecdsa.PublicKey) public key with its label.
type PublicKey struct {
	Label string
	Key   crypto.PublicKey
}

// check returns an error unless the key is one Hallmark signs with.
func (p PublicKey) check() error {
	switch k := p.Key.(type) {
	case ed25519.PublicKey:
		if len(k) == ed25519.PublicKeySize {
			return nil
		}
	case *ecdsa.PublicKey:
		if k != nil && k.Curve == elliptic.P256() {
			if _, err := k.Bytes(); err == nil {
				return nil
			}
		}
	}
	return fmt.Errorf("key type %T is not supported: Hallmark signs with ed25519 and ECDSA P-256 keys", p.Key)
}

// Raw returns a canonical encoding of the public key (its PKIX DER form):
// two spellings of one key in TUF metadata have the same Raw.
func (p PublicKey) Raw() []byte {
	der, err := x509.MarshalPKIXPublicKey(p.Key)
	if err != nil {
		return nil
	}
	return der
}

// TUF returns the key as TUF metadata describes it.
func (p PublicKey) TUF() *metadata.Key {
	if k, ok := p.Key.(*ecdsa.PublicKey); ok {
		return &metadata.Key{
			Type:   metadata.KeyTypeECDSA_SHA2_P256,
			Scheme: metadata.KeySchemeECDSA_SHA2_P256,
			Value:  metadata.KeyVal{PublicKey: ecdsaPEM(k)},
		}
	}
	raw, _ := p.Key.(ed25519.PublicKey)
	return &metadata.Key{
		Type:   metadata.KeyTypeEd25519,
		Scheme: metadata.KeySchemeEd25519,
		Value:  metadata.KeyVal{PublicKey: hex.EncodeToString(raw)},
	}
}

// ecdsaPEM is the one spelling Hallmark writes and accepts for an ECDSA
// public key in TUF metadata: PEM "PUBLIC KEY" (PKIX), as go-tuf writes it.
func ecdsaPEM(k *ecdsa.PublicKey) string {
	der, err := x509.MarshalPKIXPublicKey(k)
	if err != nil {
		return ""
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// ID returns the TUF key id: the sha256 of the key's canonical JSON.
func (p PublicKey) ID() string {
	id, err := p.TUF().ID()
	if err != nil {
		// Canonical encoding of a fixed, string-only structure cannot fail.
		panic("signing: key id: " + err.Error())
	}
	return id
}

// ShortID is the first 8 hex digits of the key id, for display.
func (p PublicKey) ShortID() string { return p.ID()[:8] }

// Prefixes of the one-line public key forms.
const (
	publicPrefix      = "hallmark-ed25519:"
	publicPrefixECDSA = "hallmark-ecdsa-p256:"
)

// String returns the one-line form that `hallmark key export` prints and
// other commands accept: "hallmark-ed25519:<hex> <label>", or
// "hallmark-ecdsa-p256:<hex of the uncompressed point> <label>".
func (p PublicKey) String() string {
	s := p.keyString()
	if p.Label != "" {
		s += " " + p.Label
	}
	return s
}

func (p PublicKey) keyString() string {
	if k, ok := p.Key.(*ecdsa.PublicKey); ok {
		b, _ := k.Bytes()
		return publicPrefixECDSA + hex.EncodeToString(b)
	}
	raw, _ := p.Key.(ed25519.PublicKey)
	return publicPrefix + hex.EncodeToString(raw)
}

// ParsePublicKey parses the one-line form printed by PublicKey.String.
func ParsePublicKey(s string) (PublicKey, error) {
	s = strings.TrimSpace(s)
	keyPart, label, _ := strings.Cut(s, " ")
	label = strings.TrimSpace(label)
	switch {
	case strings.HasPrefix(keyPart, publicPrefix):
		raw, err := hex.DecodeString(strings.TrimPrefix(keyPart, publicPrefix))
		if err != nil || len(raw) != ed25519.PublicKeySize {
			return PublicKey{}, fmt.Errorf("public key is not %d bytes of hex after %q", ed25519.PublicKeySize, publicPrefix)
		}
		return PublicKey{Label: label, Key: ed25519.PublicKey(raw)}, nil
	case strings.HasPrefix(keyPart, publicPrefixECDSA):
		raw, err := hex.DecodeString(strings.TrimPrefix(keyPart, publicPrefixECDSA))
		if err != nil {
			return PublicKey{}, fmt.Errorf("public key is not hex after %q", publicPrefixECDSA)
		}
		k, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), raw)
		if err != nil {
			return PublicKey{}, fmt.Errorf("public key after %q is not a P-256 point", publicPrefixECDSA)
		}
		return PublicKey{Label: label, Key: k}, nil
	}
	return PublicKey{}, fmt.Errorf("public key must start with %q or %q (as `hallmark key export` prints it)", publicPrefix, publicPrefixECDSA)
}

// PublicFromTUF converts a TUF key of a type Hallmark accepts (ed25519, or
// ecdsa-sha2-nistp256 in PEM) to a PublicKey. Only the one spelling
// PublicKey.TUF writes is accepted, so one key has one key id.
func PublicFromTUF(k *metadata.Key) (PublicKey, error) {
	switch {
	case k.Type == metadata.KeyTypeEd25519 && k.Scheme == metadata.KeySchemeEd25519:
		raw, err := hex.DecodeString(k.Value.PublicKey)
		if err != nil || len(raw) != ed25519.PublicKeySize {
			return PublicKey{}, errors.New("malformed ed25519 public key")
		}
		return PublicKey{Key: ed25519.PublicKey(raw)}, nil
	case k.Type == metadata.KeyTypeECDSA_SHA2_P256 && k.Scheme == metadata.KeySchemeECDSA_SHA2_P256:
		block, rest := pem.Decode([]byte(k.Value.PublicKey))
		if block == nil || block.Type != "PUBLIC KEY" || len(rest) != 0 {
			return PublicKey{}, errors.New("malformed ecdsa public key: not one PEM public key")
		}
		parsed, err := x509.ParsePKIXPublicKey(block.Bytes)
		ec, ok := parsed.(*ecdsa.PublicKey)
		if err != nil || !ok || ec.Curve != elliptic.P256() {
			return PublicKey{}, errors.New("malformed ecdsa public key: not a P-256 key")
		}
		if ecdsaPEM(ec) != k.Value.PublicKey {
			return PublicKey{}, errors.New("ecdsa public key is not in its canonical PEM form")
		}
		return PublicKey{Key: ec}, nil
	}
	return PublicKey{}, fmt.Errorf("key type %s/%s is not supported: Hallmark uses ed25519/ed25519 and ecdsa/ecdsa-sha2-nistp256", k.Type, k.Scheme)
}

// Verify reports whether sig is p's signature of msg.
func (p PublicKey) Verify(msg, sig []byte) bool {
	switch k := p.Key.(type) {
	case ed25519.PublicKey:
		return len(k) == ed25519.PublicKeySize && ed25519.Verify(k, msg, sig)
	case *ecdsa.PublicKey:
		digest := sha256.Sum256(msg)
		return k != nil && k.Curve == elliptic.P256() && ecdsa.VerifyASN1(k, digest[:], sig)
	}
	return false
}
