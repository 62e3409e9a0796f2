package signing

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/scrypt"
)

// keyFile is the on-disk form of a private key.
type keyFile struct {
	Format     string     `json:"format"` // "hallmark-key-v1"
	Label      string     `json:"label"`
	Public     string     `json:"public"`
	Encryption string     `json:"encryption"` // "scrypt-xchacha20poly1305", "none", or "pkcs11" for a token key
	KDF        *kdfParams `json:"kdf,omitempty"`
	Nonce      string     `json:"nonce,omitempty"`
	Seed       string     `json:"seed,omitempty"`  // hex: ciphertext, or the plain seed when encryption is "none"
	Token      *tokenRef  `json:"token,omitempty"` // where a token key lives, when encryption is "pkcs11"
}

// tokenRef is how a key file names a key on a PKCS#11 token. The file's
// public field then holds the key's one-line public form.
type tokenRef struct {
	URI    string `json:"uri"`    // RFC 7512 pkcs11: URI of the private key
	Module string `json:"module"` // the PKCS#11 module (shared library) to load
}

type kdfParams struct {
	N, R, P int
	Salt    string `json:"salt"`
}

const keyFormat = "hallmark-key-v1"

// scryptN is the scrypt cost: about 0.1 s on a laptop.
const scryptN = 1 << 15

// ErrWrongPassphrase is returned when a key file does not open with the given
// passphrase.
var ErrWrongPassphrase = errors.New("wrong passphrase for key")

// Marshal encodes the key for storage, encrypted with the passphrase. An
// empty passphrase stores the key in the clear (development keys only).
func (k *Key) Marshal(passphrase []byte) ([]byte, error) {
	if k.seed == nil {
		return nil, errors.New("a key on a token cannot be stored in a file: register it with MarshalToken")
	}
	f := keyFile{Format: keyFormat, Label: k.label, Public: hex.EncodeToString(k.pub.Key.(ed25519.PublicKey))}
	seed := k.seed
	if len(passphrase) == 0 {
		f.Encryption = "none"
		f.Seed = hex.EncodeToString(seed)
		return json.MarshalIndent(f, "", "  ")
	}
	salt := make([]byte, 16)
	nonce := make([]byte, chacha20poly1305.NonceSizeX)
	if _, err := rand.Read(salt); err != nil {
		return nil, err
	}
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	aead, err := keyAEAD(passphrase, scryptN, 8, 1, salt)
	if err != nil {
		return nil, err
	}
	f.Encryption = "scrypt-xchacha20poly1305"
	f.KDF = &kdfParams{N: scryptN, R: 8, P: 1, Salt: hex.EncodeToString(salt)}
	f.Nonce = hex.EncodeToString(nonce)
	f.Seed = hex.EncodeToString(aead.Seal(nil, nonce, seed, []byte(f.Public)))
	return json.MarshalIndent(f, "", "  ")
}

func keyAEAD(passphrase []byte, n, r, p int, salt []byte) (interface {
	Seal(dst, nonce, plaintext, additionalData []byte) []byte
	Open(dst, nonce, ciphertext, additionalData []byte) ([]byte, error)
}, error) {
	key, err := scrypt.Key(passphrase, salt, n, r, p, chacha20poly1305.KeySize)
	if err != nil {
		return nil, fmt.Errorf("failed to derive key encryption key: %w", err)
	}
	return chacha20poly1305.NewX(key)
}

// IsEncrypted reports whether a stored key needs a secret to open: a
// passphrase, or a token's PIN (see IsToken).
func IsEncrypted(data []byte) bool {
	var f keyFile
	return json.Unmarshal(data, &f) == nil && f.Encryption != "none"
}

// IsToken reports whether a stored key is a registered token key, which
// opens with the token's PIN rather than a passphrase.
func IsToken(data []byte) bool {
	var f keyFile
	return json.Unmarshal(data, &f) == nil && f.Encryption == encryptionToken
}

const encryptionToken = "pkcs11"

// ParseKey decodes a stored key. secret is the key file's passphrase, or
// the token's PIN for a registered token key (whose token must then be
// present); it is ignored for keys stored in the clear.
func ParseKey(data, secret []byte) (*Key, error) {
	var f keyFile
	if err := json.Unmarshal(data, &f); err != nil || f.Format != keyFormat {
		return nil, errors.New("not a Hallmark key file")
	}
	if f.Encryption == encryptionToken {
		return openTokenFile(f, secret)
	}
	passphrase := secret
	raw, err := hex.DecodeString(f.Seed)
	if err != nil {
		return nil, errors.New("key file is corrupt: seed is not hex")
	}
	var seed []byte
	switch f.Encryption {
	case "none":
		seed = raw
	case "scrypt-xchacha20poly1305":
		if f.KDF == nil || f.KDF.N > 1<<20 || f.KDF.R > 32 || f.KDF.P > 16 {
			return nil, errors.New("key file is corrupt: bad key derivation parameters")
		}
		salt, err1 := hex.DecodeString(f.KDF.Salt)
		nonce, err2 := hex.DecodeString(f.Nonce)
		if err1 != nil || err2 != nil || len(nonce) != chacha20poly1305.NonceSizeX {
			return nil, errors.New("key file is corrupt: bad salt or nonce")
		}
		aead, err := keyAEAD(passphrase, f.KDF.N, f.KDF.R, f.KDF.P, salt)
		if err != nil {
			return nil, err
		}
		if seed, err = aead.Open(nil, nonce, raw, []byte(f.Public)); err != nil {
			return nil, ErrWrongPassphrase
		}
	default:
		return nil, fmt.Errorf("key file uses unknown encryption %q", f.Encryption)
	}
	if len(seed) != 32 {
		return nil, errors.New("key file is corrupt: seed is not 32 bytes")
	}
	k := FromSeed(seed, f.Label)
	if hex.EncodeToString(k.pub.Key.(ed25519.PublicKey)) != f.Public {
		return nil, errors.New("key file is corrupt: public key does not match the private key")
	}
	return k, nil
}

// Fingerprint is a short hash of arbitrary bytes, for display.
func Fingerprint(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// PublicOf reads the public key and label of a stored key without opening it.
func PublicOf(data []byte) (PublicKey, error) {
	var f keyFile
	if err := json.Unmarshal(data, &f); err != nil || f.Format != keyFormat {
		return PublicKey{}, errors.New("not a Hallmark key file")
	}
	if f.Encryption == encryptionToken {
		pub, err := ParsePublicKey(f.Public)
		if err != nil {
			return PublicKey{}, fmt.Errorf("key file is corrupt: %w", err)
		}
		pub.Label = f.Label
		return pub, nil
	}
	raw, err := hex.DecodeString(f.Public)
	if err != nil || len(raw) != 32 {
		return PublicKey{}, errors.New("key file is corrupt: bad public key")
	}
	return PublicKey{Label: f.Label, Key: ed25519.PublicKey(raw)}, nil
}
