package signing_test

import (
	"bytes"
	"testing"

	"hallmark.dev/hallmark/signing"
)

// FuzzParsePublicKey: a public key as users pass them around (one line,
// pasted from someone else) parses to exactly one ed25519 key, which prints
// back to a line that parses to the same key.
func FuzzParsePublicKey(f *testing.F) {
	k := signing.FromSeed(bytes.Repeat([]byte{7}, 32), "Alice <alice@example.org>")
	f.Add(k.Public().String())
	f.Add("hallmark-ed25519:00")
	f.Add("  hallmark-ed25519:" + string(bytes.Repeat([]byte("ab"), 32)) + "  \n")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := signing.ParsePublicKey(s)
		if err != nil {
			return
		}
		if p.Key == nil {
			t.Fatalf("ParsePublicKey(%q) gave no key", s)
		}
		q, err := signing.ParsePublicKey(p.String())
		if err != nil || q.String() != p.String() || q.ID() != p.ID() {
			t.Fatalf("%q does not parse back to the same key: %v", p.String(), err)
		}
	})
}
