package signing_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"hallmark.dev/hallmark/signing"
)

func seed(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

func TestKeyFileRoundTrip(t *testing.T) {
	k := signing.FromSeed(seed(1), "Alice <alice@example.org>")
	tests := []struct {
		desc       string
		passphrase []byte
		encrypted  bool
	}{
		{"encrypted", []byte("correct horse battery staple"), true},
		{"in the clear (development keys)", nil, false},
	}
	for _, tt := range tests {
		data, err := k.Marshal(tt.passphrase)
		if err != nil {
			t.Fatalf("%s: Marshal: %v", tt.desc, err)
		}
		if got := signing.IsEncrypted(data); got != tt.encrypted {
			t.Errorf("%s: IsEncrypted = %v", tt.desc, got)
		}
		if tt.encrypted && bytes.Contains(data, []byte(seedHex(k))) {
			t.Errorf("%s: the file holds the seed in the clear", tt.desc)
		}
		got, err := signing.ParseKey(data, tt.passphrase)
		if err != nil {
			t.Fatalf("%s: ParseKey: %v", tt.desc, err)
		}
		if got.ID() != k.ID() || got.Label() != k.Label() {
			t.Errorf("%s: round trip gave key %s %q; want %s %q", tt.desc, got.ID(), got.Label(), k.ID(), k.Label())
		}
		msg := []byte("signed part")
		if sig, err := got.Sign(msg); err != nil || !k.Public().Verify(msg, sig) {
			t.Errorf("%s: the parsed key does not sign as the original", tt.desc)
		}
		pub, err := signing.PublicOf(data)
		if err != nil || pub.ID() != k.ID() || pub.Label != k.Label() {
			t.Errorf("%s: PublicOf = %v, %v", tt.desc, pub, err)
		}
	}
}

// seedHex is the hex of the key's seed as the clear file stores it.
func seedHex(k *signing.Key) string {
	data, _ := k.Marshal(nil)
	var f struct{ Seed string }
	json.Unmarshal(data, &f)
	return f.Seed
}

func TestKeyFileRefusesTheWrongPassphrase(t *testing.T) {
	t.Parallel()
	k := signing.FromSeed(seed(2), "bob")
	data, err := k.Marshal([]byte("right"))
	if err != nil {
		t.Fatal(err)
	}
	for _, pass := range [][]byte{[]byte("wrong"), []byte("Right"), []byte("right "), nil} {
		if _, err := signing.ParseKey(data, pass); !errors.Is(err, signing.ErrWrongPassphrase) {
			t.Errorf("ParseKey with passphrase %q: %v; want ErrWrongPassphrase", pass, err)
		}
	}
}

func TestParseKeyRefusesWhatIsNotAKeyFile(t *testing.T) {
	k := signing.FromSeed(seed(3), "carol")
	plain, _ := k.Marshal(nil)
	other := signing.FromSeed(seed(4), "dave")
	edit := func(f func(m map[string]any)) []byte {
		var m map[string]any
		if err := json.Unmarshal(plain, &m); err != nil {
			t.Fatal(err)
		}
		f(m)
		b, _ := json.Marshal(m)
		return b
	}
	tests := []struct {
		desc string
		data []byte
	}{
		{"empty", nil},
		{"not JSON", []byte("-----BEGIN PRIVATE KEY-----")},
		{"wrong format", edit(func(m map[string]any) { m["format"] = "hallmark-key-v0" })},
		{"unknown encryption", edit(func(m map[string]any) { m["encryption"] = "rot13" })},
		{"seed not hex", edit(func(m map[string]any) { m["seed"] = "zz" })},
		{"short seed", edit(func(m map[string]any) { m["seed"] = "abcd" })},
		{"public key of another key", edit(func(m map[string]any) {
			m["public"] = strings.TrimPrefix(other.Public().String(), "hallmark-ed25519:")[:64]
		})},
		{"encrypted without kdf", edit(func(m map[string]any) { m["encryption"] = "scrypt-xchacha20poly1305" })},
		{"kdf cost too high", edit(func(m map[string]any) {
			m["encryption"] = "scrypt-xchacha20poly1305"
			m["kdf"] = map[string]any{"N": 1 << 30, "R": 8, "P": 1, "salt": "00"}
		})},
	}
	for _, tt := range tests {
		if got, err := signing.ParseKey(tt.data, []byte("x")); err == nil {
			t.Errorf("%s: ParseKey accepted key %s", tt.desc, got.ID())
		}
	}
}

// Attack: a key file corrupted on disk (or edited by someone with access to
// it) must never open as another key. Every byte is flipped in turn; the
// file must be refused or still hold exactly the original key.
func TestKeyFileCorruptionNeverYieldsAnotherKey(t *testing.T) {
	t.Parallel()
	k := signing.FromSeed(seed(5), "erin")
	check := func(t *testing.T, data, pass []byte, positions []int) {
		for _, i := range positions {
			for _, mask := range []byte{0x01, 0x10} {
				bad := bytes.Clone(data)
				bad[i] ^= mask
				got, err := signing.ParseKey(bad, pass)
				if err == nil && got.ID() != k.ID() {
					t.Fatalf("flipping byte %d (%q) opened another key %s", i, data[i], got.ID())
				}
			}
		}
	}
	t.Run("clear", func(t *testing.T) {
		data, _ := k.Marshal(nil)
		all := make([]int, len(data))
		for i := range all {
			all[i] = i
		}
		check(t, data, nil, all)
	})
	t.Run("encrypted", func(t *testing.T) {
		pass := []byte("pw")
		data, _ := k.Marshal(pass)
		// Opening costs one scrypt run, so flip a sample: a byte of every
		// field value and of the JSON around them.
		var positions []int
		for _, field := range []string{`"format"`, `"public": "`, `"N": `, `"salt": "`, `"nonce": "`, `"seed": "`, `"encryption": "`} {
			i := bytes.Index(data, []byte(field))
			if i < 0 {
				t.Fatalf("key file has no %s", field)
			}
			positions = append(positions, i+len(field), i+len(field)+5, i+1)
		}
		positions = append(positions, 0, len(data)-1)
		check(t, data, pass, positions)
	})
}
