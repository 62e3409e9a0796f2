package signing

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"encoding/asn1"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
)

// DER encodings of the curves a token key may be on (CKA_EC_PARAMS).
var (
	oidP256       = []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07}
	oidEd25519    = []byte{0x06, 0x03, 0x2b, 0x65, 0x70}
	nameEd25519   = append([]byte{0x13, 0x0c}, "edwards25519"...)
	errNoTokenPIN = errors.New("the token's PIN is needed: give it when asked, or in HALLMARK_PIN")
)

// ErrWrongPIN is returned when a token refuses the PIN.
var ErrWrongPIN = errors.New("the token refused the PIN")

// tokenPublic decodes CKA_EC_PARAMS and CKA_EC_POINT into a P-256 or
// ed25519 public key.
func tokenPublic(params, point []byte) (crypto.PublicKey, error) {
	// CKA_EC_POINT is a DER OCTET STRING around the point; a few tokens
	// return the bare point.
	var inner []byte
	if rest, err := asn1.Unmarshal(point, &inner); err == nil && len(rest) == 0 {
		point = inner
	}
	switch {
	case bytes.Equal(params, oidP256):
		k, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), point)
		if err != nil {
			return nil, errors.New("the token's P-256 public key is malformed")
		}
		return k, nil
	case bytes.Equal(params, oidEd25519) || bytes.Equal(params, nameEd25519):
		if len(point) != ed25519.PublicKeySize {
			return nil, errors.New("the token's ed25519 public key is malformed")
		}
		return ed25519.PublicKey(point), nil
	}
	return nil, errors.New("the token key is on a curve Hallmark does not sign with: create an EC prime256v1 (P-256) or Ed25519 key")
}

// MarshalToken returns the key file that registers the token key k, opened
// from module and uri: its public half and label, and where it lives. It
// holds no secret.
func MarshalToken(k *Key, module string, uri TokenURI) ([]byte, error) {
	if !k.OnToken() {
		return nil, errors.New("the key is not on a token")
	}
	if module == "" {
		module = uri.ModulePath
	}
	if abs, err := filepath.Abs(module); err == nil {
		module = abs
	}
	f := keyFile{Format: keyFormat, Label: k.label, Public: k.pub.keyString(), Encryption: encryptionToken,
		Token: &tokenRef{URI: uri.String(), Module: module}}
	return json.MarshalIndent(f, "", "  ")
}

// openTokenFile opens the token key a key file registers, and checks it is
// still the key that was registered.
func openTokenFile(f keyFile, pin []byte) (*Key, error) {
	if f.Token == nil {
		return nil, errors.New("key file is corrupt: a token key without its token")
	}
	want, err := ParsePublicKey(f.Public)
	if err != nil {
		return nil, fmt.Errorf("key file is corrupt: %w", err)
	}
	uri, err := ParseTokenURI(f.Token.URI)
	if err != nil {
		return nil, fmt.Errorf("key file is corrupt: %w", err)
	}
	k, err := OpenToken(f.Token.Module, uri, pin, f.Label)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(k.pub.Raw(), want.Raw()) {
		k.Close()
		return nil, fmt.Errorf("the key at %s is %s, not the registered key %s: was the token replaced or re-keyed?", uri, k.pub.ShortID(), want.ShortID())
	}
	return k, nil
}
