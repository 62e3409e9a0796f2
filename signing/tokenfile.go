package signing

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
)

// ErrWrongPIN is returned when a token refuses the PIN.
var ErrWrongPIN = errors.New("the token refused the PIN")

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
