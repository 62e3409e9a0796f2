package signing

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Secrets supplies what opens a stored key: the passphrase of an encrypted
// key file, or the PIN of a token. Each is asked for only when needed;
// name is the key's name, for the prompt.
type Secrets struct {
	Passphrase func(name string) ([]byte, error)
	PIN        func(name string) ([]byte, error)
}

// Open opens a stored key (a key file's bytes, or the same bytes taken from
// the environment), asking s for its passphrase or its token's PIN.
func Open(data []byte, name string, s Secrets) (*Key, error) {
	var secret []byte
	var err error
	switch {
	case IsToken(data):
		if s.PIN == nil {
			return nil, fmt.Errorf("key %s is on a token, and no PIN can be given here", name)
		}
		secret, err = s.PIN(name)
	case IsEncrypted(data):
		if s.Passphrase == nil {
			return nil, fmt.Errorf("key %s is encrypted, and no passphrase can be given here", name)
		}
		secret, err = s.Passphrase(name)
	}
	if err != nil {
		return nil, err
	}
	k, err := ParseKey(data, secret)
	switch {
	case errors.Is(err, ErrWrongPassphrase):
		return nil, fmt.Errorf("%w %s", ErrWrongPassphrase, name)
	case errors.Is(err, ErrWrongPIN):
		return nil, fmt.Errorf("%w of key %s", ErrWrongPIN, name)
	case err != nil:
		return nil, fmt.Errorf("key %s: %w", name, err)
	}
	return k, nil
}

// Open opens the named key of the keyring, asking s for its secret.
func (r Keyring) Open(name string, s Secrets) (*Key, error) {
	data, err := r.Raw(name)
	if err != nil {
		return nil, err
	}
	return Open(data, name, s)
}

// EncodeEnvKey returns a stored key in the one-line form that HALLMARK_KEY
// holds: the key file in standard base64.
func EncodeEnvKey(data []byte) string { return base64.StdEncoding.EncodeToString(data) }

// DecodeEnvKey reads what HALLMARK_KEY holds: the base64 form EncodeEnvKey
// writes, or the key file itself (JSON).
func DecodeEnvKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "{") {
		return []byte(s), nil
	}
	data, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, errors.New("it is neither a key file nor base64")
	}
	if _, err := PublicOf(data); err != nil {
		return nil, err
	}
	return data, nil
}

// CIKey is a key made for a CI job: the key file (encrypted) in its
// HALLMARK_KEY form, the random passphrase that opens it, and its public
// half.
type CIKey struct {
	Key        string
	Passphrase string
	Public     PublicKey
}

// GenerateForCI creates a key for a CI job, encrypted with a new random
// passphrase of 256 bits.
func GenerateForCI(label string) (*CIKey, error) {
	k, err := Generate(label)
	if err != nil {
		return nil, err
	}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return nil, fmt.Errorf("failed to generate passphrase: %w", err)
	}
	pass := base64.RawURLEncoding.EncodeToString(secret)
	data, err := k.Marshal([]byte(pass))
	if err != nil {
		return nil, err
	}
	return &CIKey{Key: EncodeEnvKey(compactJSON(data)), Passphrase: pass, Public: k.Public()}, nil
}

func compactJSON(b []byte) []byte {
	var buf bytes.Buffer
	if json.Compact(&buf, b) != nil {
		return b
	}
	return buf.Bytes()
}
