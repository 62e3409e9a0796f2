package signing_test

import (
	"bytes"
	"strings"
	"testing"

	"hallmark.dev/hallmark/signing"
)

func TestParseTokenURI(t *testing.T) {
	u, err := signing.ParseTokenURI("pkcs11:token=My%20Token;serial=0123;object=hallmark;id=%01%02;type=private?module-path=/usr/lib/softhsm/libsofthsm2.so")
	if err != nil {
		t.Fatal(err)
	}
	if u.Token != "My Token" || u.Serial != "0123" || u.Object != "hallmark" || !bytes.Equal(u.ID, []byte{1, 2}) ||
		u.Type != "private" || u.ModulePath != "/usr/lib/softhsm/libsofthsm2.so" {
		t.Errorf("parsed %+v", u)
	}
	slot, err := signing.ParseTokenURI("pkcs11:slot-id=3;object=k;x-vendor=1")
	if err != nil || slot.SlotID == nil || *slot.SlotID != 3 {
		t.Errorf("slot-id: %+v, %v", slot, err)
	}
}

func TestParseTokenURIRefusesBadInput(t *testing.T) {
	tests := []struct{ uri, want string }{
		{"token=a;object=b", `must start with "pkcs11:"`},
		{"PKCS11:token=a;object=b", `must start with "pkcs11:"`},
		{"pkcs11:token=a", "names no key"},
		{"pkcs11:", "names no key"},
		{"pkcs11:token=a;token=b;object=c", "names token twice"},
		{"pkcs11:token;object=c", "is not NAME=VALUE"},
		{"pkcs11:object=%zz", "malformed %-escape"},
		{"pkcs11:object=a;type=public", "type=public names no signing key"},
		{"pkcs11:object=a;slot-id=x", "slot-id \"x\" is not a number"},
		{"pkcs11:object=a;colour=red", "not an RFC 7512 attribute"},
		{"pkcs11:object=a?pin-value=1234", "carries the PIN"},
		{"pkcs11:object=a?pin-source=file:/tmp/pin", "carries the PIN"},
		{"pkcs11:object=a?module-name=softhsm2", "module-name is not supported"},
	}
	for _, tt := range tests {
		_, err := signing.ParseTokenURI(tt.uri)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseTokenURI(%q) = %v; want an error saying %q", tt.uri, err, tt.want)
		}
	}
}
