package signing_test

import (
	"errors"
	"strings"
	"testing"

	"hallmark.dev/hallmark/signing"
)

func TestCIKeyOpensFromItsSecrets(t *testing.T) {
	ci, err := signing.GenerateForCI("ci-bot")
	if err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(ci.Key, " \n\"'") || strings.ContainsAny(ci.Passphrase, " \n\"'") || len(ci.Passphrase) < 40 {
		t.Fatalf("CI secrets are not single shell-safe tokens: %q %q", ci.Key, ci.Passphrase)
	}
	data, err := signing.DecodeEnvKey(ci.Key)
	if err != nil {
		t.Fatal(err)
	}
	if !signing.IsEncrypted(data) || signing.IsToken(data) {
		t.Fatal("the CI key is not an encrypted key file")
	}
	pass := func(string) ([]byte, error) { return []byte(ci.Passphrase), nil }
	k, err := signing.Open(data, "ci", signing.Secrets{Passphrase: pass})
	if err != nil || k.ID() != ci.Public.ID() || k.Label() != "ci-bot" {
		t.Fatalf("Open = %v, %v", k, err)
	}
	// The key file's JSON itself is accepted too (HALLMARK_KEY pasted raw).
	if raw, err := signing.DecodeEnvKey("  " + string(data) + "\n"); err != nil || string(raw) != strings.TrimSpace(string(data)) {
		t.Fatalf("DecodeEnvKey(JSON) = %v", err)
	}
	wrong := func(string) ([]byte, error) { return []byte("guess"), nil }
	if _, err := signing.Open(data, "ci", signing.Secrets{Passphrase: wrong}); !errors.Is(err, signing.ErrWrongPassphrase) {
		t.Fatalf("Open with a wrong passphrase: %v", err)
	}
	if _, err := signing.Open(data, "ci", signing.Secrets{}); err == nil {
		t.Fatal("Open without a way to get the passphrase succeeded")
	}
}

func TestDecodeEnvKeyRefusesWhatIsNotAKey(t *testing.T) {
	for _, s := range []string{"", "not-a-key", "aGVsbG8=", "{}", "{\"format\":\"other\"}"} {
		data, err := signing.DecodeEnvKey(s)
		if err == nil {
			_, err = signing.Open(data, "x", signing.Secrets{})
		}
		if err == nil {
			t.Errorf("DecodeEnvKey(%q) then Open succeeded", s)
		}
	}
}

func TestTokenKeyFileNeedsItsToken(t *testing.T) {
	reg := `{"format":"hallmark-key-v1","label":"t","public":"hallmark-ecdsa-p256:` + strings.Repeat("00", 65) +
		`","encryption":"pkcs11","token":{"uri":"pkcs11:token=x;object=y","module":"/nonexistent/libnothing.so"}}`
	if !signing.IsToken([]byte(reg)) || !signing.IsEncrypted([]byte(reg)) {
		t.Fatal("a token registration is not recognized as one")
	}
	if _, err := signing.PublicOf([]byte(reg)); err == nil {
		t.Error("PublicOf accepted a point that is not on the curve")
	}
	line := ecdsaKey(t, "").Public().String()
	ok := strings.Replace(reg, "hallmark-ecdsa-p256:"+strings.Repeat("00", 65), line, 1)
	if pub, err := signing.PublicOf([]byte(ok)); err != nil || pub.String() != line+" t" {
		t.Fatalf("PublicOf = %v, %v", pub, err)
	}
	pin := func(string) ([]byte, error) { return []byte("1234"), nil }
	if _, err := signing.Open([]byte(ok), "t", signing.Secrets{}); err == nil || !strings.Contains(err.Error(), "no PIN") {
		t.Errorf("Open without a PIN source: %v", err)
	}
	// (A build without cgo says it cannot use tokens at all.)
	if _, err := signing.Open([]byte(ok), "t", signing.Secrets{PIN: pin}); err == nil ||
		!strings.Contains(err.Error(), "cannot load PKCS#11 module") && !strings.Contains(err.Error(), "built without cgo") {
		t.Error("Open reached a token through a module that does not exist")
	}
	k, _ := signing.Generate("file key")
	if _, err := signing.MarshalToken(k, "/m.so", signing.TokenURI{}); err == nil {
		t.Error("MarshalToken registered a key that is not on a token")
	}
}
