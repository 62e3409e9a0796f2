// Package signing holds Hallmark's signing keys: ed25519 keys with a label,
// stored encrypted with a passphrase (scrypt + XChaCha20-Poly1305), the
// one-line public form maintainers exchange, and the derivation of each
// shard's online keys from the server's one online secret.
//
// A Key never leaves this package in raw form; callers sign through it.
package signing

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// Key is a private ed25519 signing key with a human label.
type Key struct {
	label string
	priv  ed25519.PrivateKey
}

// Generate creates a new random key.
func Generate(label string) (*Key, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("failed to generate key: %w", err)
	}
	return &Key{label: label, priv: priv}, nil
}

// FromSeed builds a key from a 32-byte ed25519 seed.
func FromSeed(seed []byte, label string) *Key {
	return &Key{label: label, priv: ed25519.NewKeyFromSeed(seed)}
}

// Label is the key's human label ("Alice <alice@example.org>").
func (k *Key) Label() string { return k.label }

// Public returns the key's public half.
func (k *Key) Public() PublicKey {
	return PublicKey{Label: k.label, Key: k.priv.Public().(ed25519.PublicKey)}
}

// ID returns the TUF key id of the key.
func (k *Key) ID() string { return k.Public().ID() }

// Sign signs msg (TUF signs the canonical JSON of a role's signed part).
func (k *Key) Sign(msg []byte) []byte { return ed25519.Sign(k.priv, msg) }

// PublicKey is an ed25519 public key with its label.
type PublicKey struct {
	Label string
	Key   ed25519.PublicKey
}

// TUF returns the key as TUF metadata describes it.
func (p PublicKey) TUF() *metadata.Key {
	return &metadata.Key{
		Type:   metadata.KeyTypeEd25519,
		Scheme: metadata.KeySchemeEd25519,
		Value:  metadata.KeyVal{PublicKey: hex.EncodeToString(p.Key)},
	}
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

// publicPrefix starts the one-line public key form.
const publicPrefix = "hallmark-ed25519:"

// String returns the one-line form that `hallmark key export` prints and
// other commands accept: "hallmark-ed25519:<hex> <label>".
func (p PublicKey) String() string {
	s := publicPrefix + hex.EncodeToString(p.Key)
	if p.Label != "" {
		s += " " + p.Label
	}
	return s
}

// ParsePublicKey parses the one-line form printed by PublicKey.String.
func ParsePublicKey(s string) (PublicKey, error) {
	s = strings.TrimSpace(s)
	keyPart, label, _ := strings.Cut(s, " ")
	if !strings.HasPrefix(keyPart, publicPrefix) {
		return PublicKey{}, fmt.Errorf("public key must start with %q (as `hallmark key export` prints it)", publicPrefix)
	}
	raw, err := hex.DecodeString(strings.TrimPrefix(keyPart, publicPrefix))
	if err != nil || len(raw) != ed25519.PublicKeySize {
		return PublicKey{}, fmt.Errorf("public key is not %d bytes of hex after %q", ed25519.PublicKeySize, publicPrefix)
	}
	return PublicKey{Label: strings.TrimSpace(label), Key: raw}, nil
}

// PublicFromTUF converts a TUF ed25519 key to a PublicKey.
func PublicFromTUF(k *metadata.Key) (PublicKey, error) {
	if k.Type != metadata.KeyTypeEd25519 || k.Scheme != metadata.KeySchemeEd25519 {
		return PublicKey{}, fmt.Errorf("key type %s/%s is not supported: Hallmark uses ed25519", k.Type, k.Scheme)
	}
	raw, err := hex.DecodeString(k.Value.PublicKey)
	if err != nil || len(raw) != ed25519.PublicKeySize {
		return PublicKey{}, fmt.Errorf("malformed ed25519 public key")
	}
	return PublicKey{Key: raw}, nil
}

// Verify reports whether sig is p's signature of msg.
func (p PublicKey) Verify(msg, sig []byte) bool {
	return len(p.Key) == ed25519.PublicKeySize && ed25519.Verify(p.Key, msg, sig)
}
