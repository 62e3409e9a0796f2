//go:build !cgo

package signing

import "errors"

// errNoCgo is what token operations return in a build without cgo: the
// PKCS#11 library (github.com/miekg/pkcs11) loads token modules through cgo.
var errNoCgo = errors.New("this hallmark was built without cgo, so it cannot use PKCS#11 tokens: rebuild it with CGO_ENABLED=1 (and a C compiler)")

// Token is a logged-in session with one PKCS#11 token; in a build without
// cgo none can be opened.
type Token struct{}

// OpenToken fails: this build cannot load PKCS#11 modules.
func OpenToken(module string, uri TokenURI, pin []byte, label string) (*Key, error) {
	return nil, errNoCgo
}

// LoginToken fails: this build cannot load PKCS#11 modules.
func LoginToken(module string, uri TokenURI, pin []byte) (*Token, error) { return nil, errNoCgo }

// Key fails: this build cannot load PKCS#11 modules.
func (t *Token) Key(object, label string) (*Key, error) { return nil, errNoCgo }

// GenerateECDSA fails: this build cannot load PKCS#11 modules.
func (t *Token) GenerateECDSA(object, label string) (*Key, error) { return nil, errNoCgo }

// Close does nothing.
func (t *Token) Close() error { return nil }
