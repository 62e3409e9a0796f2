package signing

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// TokenURI is a parsed RFC 7512 "pkcs11:" URI naming one private key on a
// token: which token (by label, serial, manufacturer, model or slot id) and
// which object on it (by label or CKA_ID). Attributes left out match
// anything.
type TokenURI struct {
	Token, Serial, Manufacturer, Model string
	SlotID                             *uint
	Object                             string // CKA_LABEL of the key
	ID                                 []byte // CKA_ID of the key
	Type                               string // "private" if given
	ModulePath                         string // query attribute module-path
	raw                                string
}

// String returns the URI as given.
func (u TokenURI) String() string { return u.raw }

// pathAttrs are the RFC 7512 path attributes Hallmark understands.
var pathAttrs = map[string]bool{
	"token": true, "serial": true, "manufacturer": true, "model": true, "slot-id": true,
	"object": true, "id": true, "type": true,
	"library-manufacturer": true, "library-description": true, "library-version": true,
	"slot-description": true, "slot-manufacturer": true,
}

// ParseTokenURI parses an RFC 7512 URI such as
// "pkcs11:token=alice;object=hallmark;type=private". It refuses a URI that
// carries the PIN (pin-value): PINs come from a prompt or HALLMARK_PIN, so
// they are never written to disk with the key's registration.
func ParseTokenURI(s string) (TokenURI, error) {
	u, err := parseTokenURI(s)
	if err != nil {
		return TokenURI{}, err
	}
	if u.Object == "" && u.ID == nil {
		return TokenURI{}, fmt.Errorf("token URI %q names no key: add object=LABEL or id=%%XX... (list them with pkcs11-tool --list-objects)", s)
	}
	return u, nil
}

// ParseTokenOnlyURI parses an RFC 7512 URI that names a token, such as
// "pkcs11:token=hallmark-online", where keys are to be found or generated.
func ParseTokenOnlyURI(s string) (TokenURI, error) {
	u, err := parseTokenURI(s)
	if err != nil {
		return TokenURI{}, err
	}
	if u.Object != "" || u.ID != nil {
		return TokenURI{}, fmt.Errorf("token URI %q names a key; name only the token (token=LABEL or serial=...)", s)
	}
	return u, nil
}

// TokenOnly returns the URI without the attributes that name a key: the
// token it names.
func (u TokenURI) TokenOnly() string {
	s := "pkcs11:"
	add := func(name, v string) {
		if v == "" {
			return
		}
		if s != "pkcs11:" {
			s += ";"
		}
		s += name + "=" + pctEncode(v)
	}
	add("token", u.Token)
	add("serial", u.Serial)
	add("manufacturer", u.Manufacturer)
	add("model", u.Model)
	if u.SlotID != nil {
		add("slot-id", strconv.FormatUint(uint64(*u.SlotID), 10))
	}
	return s
}

// pctEncode escapes all but RFC 3986's unreserved characters.
func pctEncode(v string) string {
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

func parseTokenURI(s string) (TokenURI, error) {
	u := TokenURI{raw: s}
	rest, ok := strings.CutPrefix(s, "pkcs11:")
	if !ok {
		return TokenURI{}, fmt.Errorf("token URI %q must start with \"pkcs11:\" (RFC 7512), like pkcs11:token=NAME;object=LABEL", s)
	}
	path, query, _ := strings.Cut(rest, "?")
	seen := map[string]bool{}
	attr := func(part, sep string) (string, string, error) {
		name, value, ok := strings.Cut(part, "=")
		if !ok || name == "" {
			return "", "", fmt.Errorf("token URI attribute %q is not NAME=VALUE", part)
		}
		if seen[name] {
			return "", "", fmt.Errorf("token URI names %s twice", name)
		}
		seen[name] = true
		v, err := url.PathUnescape(value)
		if err != nil {
			return "", "", fmt.Errorf("token URI attribute %s has a malformed %%-escape", name)
		}
		return name, v, nil
	}
	if path != "" {
		for part := range strings.SplitSeq(path, ";") {
			name, v, err := attr(part, ";")
			if err != nil {
				return TokenURI{}, err
			}
			switch name {
			case "token":
				u.Token = v
			case "serial":
				u.Serial = v
			case "manufacturer":
				u.Manufacturer = v
			case "model":
				u.Model = v
			case "slot-id":
				n, err := strconv.ParseUint(v, 10, 32)
				if err != nil {
					return TokenURI{}, fmt.Errorf("token URI slot-id %q is not a number", v)
				}
				id := uint(n)
				u.SlotID = &id
			case "object":
				u.Object = v
			case "id":
				u.ID = []byte(v)
			case "type":
				if v != "private" {
					return TokenURI{}, fmt.Errorf("token URI type=%s names no signing key; use type=private or leave it out", v)
				}
				u.Type = v
			default:
				if !pathAttrs[name] && !strings.HasPrefix(name, "x-") {
					return TokenURI{}, fmt.Errorf("token URI attribute %q is not an RFC 7512 attribute", name)
				}
			}
		}
	}
	if query != "" {
		for part := range strings.SplitSeq(query, "&") {
			name, v, err := attr(part, "&")
			if err != nil {
				return TokenURI{}, err
			}
			switch name {
			case "module-path":
				u.ModulePath = v
			case "pin-value", "pin-source":
				return TokenURI{}, fmt.Errorf("token URI carries the PIN (%s); leave it out and give the PIN when asked, or in HALLMARK_PIN", name)
			case "module-name":
				return TokenURI{}, fmt.Errorf("token URI module-name is not supported; give the module's path with --module or module-path=")
			default:
				if !strings.HasPrefix(name, "x-") {
					return TokenURI{}, fmt.Errorf("token URI query attribute %q is not an RFC 7512 attribute", name)
				}
			}
		}
	}
	return u, nil
}
