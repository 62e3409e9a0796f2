//go:build cgo

package signing

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"math/big"
	"strings"
	"sync"

	"github.com/miekg/pkcs11"
)

// PKCS#11 3.0 names that github.com/miekg/pkcs11 v1.1.2 does not define.
const (
	ckkECEdwards = 0x40   // CKK_EC_EDWARDS
	ckmEdDSA     = 0x1057 // CKM_EDDSA
)

// DER encodings of the curves a token key may be on (CKA_EC_PARAMS).
var (
	oidP256       = []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07}
	oidEd25519    = []byte{0x06, 0x03, 0x2b, 0x65, 0x70}
	nameEd25519   = append([]byte{0x13, 0x0c}, "edwards25519"...)
	errNoTokenPIN = errors.New("the token's PIN is needed: give it when asked, or in HALLMARK_PIN")
)

// Token is a logged-in session with one PKCS#11 token. Keys found or
// generated on it share the session, one operation at a time.
type Token struct {
	mu      sync.Mutex // a PKCS#11 session runs one operation at a time
	ctx     *pkcs11.Ctx
	session pkcs11.SessionHandle
	pin     string // kept for keys that need a login for every signature
	// index maps the labels of the token's private keys to them, built by
	// the first Key call: one pass over the token's objects rather than a
	// search for every key (a token may hold thousands of online keys).
	index map[string]indexed
}

// indexed is a private key object and its public key object.
type indexed struct{ priv, pub pkcs11.ObjectHandle }

// tokenSigner signs with a private key that never leaves a PKCS#11 token.
type tokenSigner struct {
	tok *Token
	key pkcs11.ObjectHandle
	pub crypto.PublicKey
	// alwaysAuth is set for keys that need the PIN again for every
	// signature (CKA_ALWAYS_AUTHENTICATE: a YubiKey's PIV slot 9c).
	alwaysAuth bool
}

// Public returns the key's public half, read from the token.
func (t *tokenSigner) Public() crypto.PublicKey { return t.pub }

// Sign signs with the token: CKM_ECDSA over the digest (returned as ASN.1
// DER, as crypto.Signer promises) or CKM_EDDSA over the message.
func (t *tokenSigner) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	tok := t.tok
	tok.mu.Lock()
	defer tok.mu.Unlock()
	mech := uint(pkcs11.CKM_ECDSA)
	if _, ok := t.pub.(ed25519.PublicKey); ok {
		mech = ckmEdDSA
	}
	if err := tok.ctx.SignInit(tok.session, []*pkcs11.Mechanism{pkcs11.NewMechanism(mech, nil)}, t.key); err != nil {
		return nil, fmt.Errorf("token refused to start signing: %w", err)
	}
	if t.alwaysAuth {
		if err := tok.ctx.Login(tok.session, pkcs11.CKU_CONTEXT_SPECIFIC, tok.pin); err != nil {
			return nil, fmt.Errorf("token refused the PIN for this signature: %w", err)
		}
	}
	sig, err := tok.ctx.Sign(tok.session, digest)
	if err != nil {
		return nil, fmt.Errorf("token failed to sign: %w", err)
	}
	if mech == ckmEdDSA {
		return sig, nil
	}
	if len(sig) != 64 {
		return nil, fmt.Errorf("token returned a %d-byte ECDSA signature; want 64 (r||s)", len(sig))
	}
	return asn1.Marshal(struct{ R, S *big.Int }{new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])})
}

// Close ends the session; the keys found on it stop signing. The module
// stays loaded and initialized: other tokens of this process may share it.
func (t *Token) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.ctx.CloseSession(t.session)
}

// OpenToken opens the key that uri names on a token reached through the
// PKCS#11 module (a shared library such as libsofthsm2.so or
// libykcs11.so), logging in with pin. The key must be ECDSA P-256 or
// ed25519, with its public key object on the token next to it. Closing the
// key ends its session.
func OpenToken(module string, uri TokenURI, pin []byte, label string) (*Key, error) {
	tok, err := LoginToken(module, uri, pin)
	if err != nil {
		return nil, err
	}
	s, err := tok.find(uri.Object, uri.ID, uri.String())
	if err != nil {
		tok.Close()
		return nil, err
	}
	k, err := FromSigner(s, label, tok)
	if err != nil {
		tok.Close()
		return nil, err
	}
	return k, nil
}

// LoginToken opens a session with the one token that uri names (its object
// attributes are ignored) through the PKCS#11 module, and logs in with pin.
func LoginToken(module string, uri TokenURI, pin []byte) (*Token, error) {
	if module == "" {
		module = uri.ModulePath
	}
	if module == "" {
		return nil, errors.New("which PKCS#11 module reaches the token? give its path (e.g. /usr/lib/softhsm/libsofthsm2.so, or libykcs11.so for a YubiKey)")
	}
	if uri.ModulePath != "" && uri.ModulePath != module {
		return nil, fmt.Errorf("the token URI names module %s but %s was given; keep one", uri.ModulePath, module)
	}
	if len(pin) == 0 {
		return nil, errNoTokenPIN
	}
	ctx := pkcs11.New(module)
	if ctx == nil {
		return nil, fmt.Errorf("cannot load PKCS#11 module %s: check the path and that the library is installed", module)
	}
	if err := ctx.Initialize(); err != nil && !isCKR(err, pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED) {
		return nil, fmt.Errorf("PKCS#11 module %s failed to start: %w", module, err)
	}
	slot, err := findSlot(ctx, uri)
	if err != nil {
		return nil, err
	}
	session, err := ctx.OpenSession(slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
	if err != nil {
		return nil, fmt.Errorf("cannot open a session with the token: %w", err)
	}
	t := &Token{ctx: ctx, session: session, pin: string(pin)}
	if err := ctx.Login(session, pkcs11.CKU_USER, string(pin)); err != nil && !isCKR(err, pkcs11.CKR_USER_ALREADY_LOGGED_IN) {
		t.Close()
		if isCKR(err, pkcs11.CKR_PIN_INCORRECT) {
			return nil, ErrWrongPIN
		}
		return nil, fmt.Errorf("cannot log in to the token: %w", err)
	}
	return t, nil
}

// Key returns the key labelled object on the token, or ErrNoKey. The key
// signs until the token is closed; closing the key does nothing.
func (t *Token) Key(object, label string) (*Key, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.index == nil {
		if err := t.buildIndex(); err != nil {
			return nil, err
		}
	}
	o, ok := t.index[object]
	if !ok {
		return nil, fmt.Errorf("%w: the token has no key pair labelled %s", ErrNoKey, object)
	}
	s := &tokenSigner{tok: t, key: o.priv}
	var err error
	if s.pub, err = t.readPublic(o.pub); err != nil {
		return nil, err
	}
	return FromSigner(s, label, nil)
}

// buildIndex lists the token's private keys by label, each with the public
// key object of the same CKA_ID. Labels found twice are left out.
func (t *Token) buildIndex() error {
	all := func(class uint) ([]pkcs11.ObjectHandle, error) {
		if err := t.ctx.FindObjectsInit(t.session, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_CLASS, class)}); err != nil {
			return nil, err
		}
		var out []pkcs11.ObjectHandle
		for {
			objs, _, err := t.ctx.FindObjects(t.session, 1000)
			if err != nil || len(objs) == 0 {
				if ferr := t.ctx.FindObjectsFinal(t.session); err == nil {
					err = ferr
				}
				return out, err
			}
			out = append(out, objs...)
		}
	}
	attrs := func(h pkcs11.ObjectHandle) (label, id string, err error) {
		a, err := t.ctx.GetAttributeValue(t.session, h, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_LABEL, nil), pkcs11.NewAttribute(pkcs11.CKA_ID, nil)})
		if err != nil {
			return "", "", err
		}
		return string(a[0].Value), string(a[1].Value), nil
	}
	pubs, err := all(pkcs11.CKO_PUBLIC_KEY)
	if err != nil {
		return fmt.Errorf("cannot list the token's keys: %w", err)
	}
	pubByID := map[string]pkcs11.ObjectHandle{}
	for _, h := range pubs {
		if _, id, err := attrs(h); err == nil && id != "" {
			pubByID[id] = h
		}
	}
	privs, err := all(pkcs11.CKO_PRIVATE_KEY)
	if err != nil {
		return fmt.Errorf("cannot list the token's keys: %w", err)
	}
	index, twice := map[string]indexed{}, map[string]bool{}
	for _, h := range privs {
		label, id, err := attrs(h)
		pub, ok := pubByID[id]
		if err != nil || !ok || label == "" {
			continue
		}
		if _, dup := index[label]; dup {
			twice[label] = true
		}
		index[label] = indexed{priv: h, pub: pub}
	}
	for label := range twice {
		delete(index, label)
	}
	t.index = index
	return nil
}

// GenerateECDSA creates a P-256 key pair labelled object on the token (its
// private half not extractable) and returns it.
func (t *Token) GenerateECDSA(object, label string) (*Key, error) {
	id := sha256.Sum256([]byte(object))
	common := func(class uint) []*pkcs11.Attribute {
		return []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_CLASS, class),
			pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_EC),
			pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
			pkcs11.NewAttribute(pkcs11.CKA_LABEL, object),
			pkcs11.NewAttribute(pkcs11.CKA_ID, id[:16]),
		}
	}
	pubT := append(common(pkcs11.CKO_PUBLIC_KEY), pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, oidP256), pkcs11.NewAttribute(pkcs11.CKA_VERIFY, true))
	privT := append(common(pkcs11.CKO_PRIVATE_KEY), pkcs11.NewAttribute(pkcs11.CKA_SIGN, true),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true), pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
		pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, false))
	t.mu.Lock()
	defer t.mu.Unlock()
	pubH, privH, err := t.ctx.GenerateKeyPair(t.session, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_EC_KEY_PAIR_GEN, nil)}, pubT, privT)
	if err != nil {
		return nil, fmt.Errorf("token failed to generate a P-256 key: %w", err)
	}
	s := &tokenSigner{tok: t, key: privH}
	if s.pub, err = t.readPublic(pubH); err != nil {
		return nil, err
	}
	if t.index != nil {
		t.index[object] = indexed{priv: privH, pub: pubH}
	}
	return FromSigner(s, label, nil)
}

// readPublic reads a public key object as a P-256 or ed25519 key.
func (t *Token) readPublic(h pkcs11.ObjectHandle) (crypto.PublicKey, error) {
	pa, err := t.ctx.GetAttributeValue(t.session, h, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, nil),
		pkcs11.NewAttribute(pkcs11.CKA_EC_POINT, nil),
	})
	if err != nil {
		return nil, fmt.Errorf("cannot read the public key (only EC and Ed25519 keys sign for Hallmark): %w", err)
	}
	return tokenPublic(pa[0].Value, pa[1].Value)
}

func isCKR(err error, code uint) bool {
	var e pkcs11.Error
	return errors.As(err, &e) && uint(e) == code
}

// findSlot returns the one slot whose token matches uri.
func findSlot(ctx *pkcs11.Ctx, uri TokenURI) (uint, error) {
	slots, err := ctx.GetSlotList(true)
	if err != nil {
		return 0, fmt.Errorf("cannot list the module's tokens: %w", err)
	}
	var found []uint
	var seen []string
	for _, s := range slots {
		info, err := ctx.GetTokenInfo(s)
		if err != nil {
			continue
		}
		label := strings.TrimRight(info.Label, " \x00")
		seen = append(seen, fmt.Sprintf("%q (serial %s)", label, strings.TrimSpace(info.SerialNumber)))
		if (uri.Token == "" || uri.Token == label) &&
			(uri.Serial == "" || uri.Serial == strings.TrimSpace(info.SerialNumber)) &&
			(uri.Manufacturer == "" || uri.Manufacturer == strings.TrimSpace(info.ManufacturerID)) &&
			(uri.Model == "" || uri.Model == strings.TrimSpace(info.Model)) &&
			(uri.SlotID == nil || *uri.SlotID == s) {
			found = append(found, s)
		}
	}
	switch len(found) {
	case 0:
		if len(seen) == 0 {
			return 0, errors.New("no token is present: plug it in (or initialize one) and try again")
		}
		return 0, fmt.Errorf("no present token matches %s; present: %s", uri, strings.Join(seen, ", "))
	case 1:
		return found[0], nil
	}
	return 0, fmt.Errorf("%d tokens match %s; add token=LABEL or serial=... to name one", len(found), uri)
}

// find locates the one private key with the label object and/or CKA_ID id
// (desc names it in errors), and reads its public half.
func (t *Token) find(object string, id []byte, desc string) (*tokenSigner, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	match := func(class uint, label string, id []byte) ([]pkcs11.ObjectHandle, error) {
		tmpl := []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_CLASS, class)}
		if label != "" {
			tmpl = append(tmpl, pkcs11.NewAttribute(pkcs11.CKA_LABEL, label))
		}
		if id != nil {
			tmpl = append(tmpl, pkcs11.NewAttribute(pkcs11.CKA_ID, id))
		}
		if err := t.ctx.FindObjectsInit(t.session, tmpl); err != nil {
			return nil, err
		}
		objs, _, err := t.ctx.FindObjects(t.session, 2)
		if ferr := t.ctx.FindObjectsFinal(t.session); err == nil {
			err = ferr
		}
		return objs, err
	}
	privs, err := match(pkcs11.CKO_PRIVATE_KEY, object, id)
	if err != nil {
		return nil, fmt.Errorf("cannot search the token: %w", err)
	}
	switch len(privs) {
	case 0:
		return nil, fmt.Errorf("%w: the token has no private key matching %s (list them with pkcs11-tool --list-objects --login)", ErrNoKey, desc)
	case 2:
		return nil, fmt.Errorf("several private keys match %s; add id=... to name one", desc)
	}
	s := &tokenSigner{tok: t, key: privs[0]}
	attrs, err := t.ctx.GetAttributeValue(t.session, s.key, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_ID, nil), pkcs11.NewAttribute(pkcs11.CKA_LABEL, nil),
	})
	if err != nil {
		return nil, fmt.Errorf("cannot read the key's id: %w", err)
	}
	if aa, err := t.ctx.GetAttributeValue(t.session, s.key, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_ALWAYS_AUTHENTICATE, nil)}); err == nil && len(aa[0].Value) == 1 {
		s.alwaysAuth = aa[0].Value[0] != 0
	}
	// The public object shares the private key's CKA_ID (PIV tokens label
	// them differently), or its label when it has no id.
	var pubs []pkcs11.ObjectHandle
	if len(attrs[0].Value) > 0 {
		pubs, err = match(pkcs11.CKO_PUBLIC_KEY, "", attrs[0].Value)
	} else {
		pubs, err = match(pkcs11.CKO_PUBLIC_KEY, string(attrs[1].Value), nil)
	}
	if err != nil || len(pubs) != 1 {
		return nil, fmt.Errorf("the token has no single public key object next to the private key %s", desc)
	}
	if s.pub, err = t.readPublic(pubs[0]); err != nil {
		return nil, err
	}
	return s, nil
}

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
