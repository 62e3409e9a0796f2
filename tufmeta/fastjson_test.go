package tufmeta_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/secure-systems-lab/go-securesystemslib/cjson"
	"github.com/theupdateframework/go-tuf/v2/metadata"

	"hallmark.dev/hallmark/tufmeta"
)

// randomMeta fills a snapshot's or timestamp's meta with n entries, some
// with lengths and hashes, a few (when odd is set) in shapes the fast path
// leaves to go-tuf.
func randomMeta(rng *rand.Rand, n int, odd bool) map[string]*metadata.MetaFiles {
	names := []string{"demo", "a-b.c", "x", "new.0f3", "claimed.ab", "targets", "Q_9"}
	if odd {
		names = append(names, `qu"ote`, "émile", "a<b", "c>d", "e&f", "tab\t", "back\\slash", "\u2028")
	}
	meta := map[string]*metadata.MetaFiles{}
	for i := range n {
		m := metadata.MetaFile(rng.Int64N(1 << 40))
		if rng.IntN(3) == 0 {
			m.Length = rng.Int64N(1 << 30)
		}
		if rng.IntN(3) == 0 {
			h := make([]byte, 32)
			for j := range h {
				h[j] = byte(rng.IntN(256))
			}
			m.Hashes = metadata.Hashes{"sha256": h}
			if rng.IntN(4) == 0 {
				m.Hashes["sha512"] = append(h, h...)
			}
		}
		if odd && rng.IntN(10) == 0 {
			m.UnrecognizedFields = map[string]any{"x-extra": 1.0}
		}
		meta[fmt.Sprintf("%s-%d.json", names[rng.IntN(len(names))], i)] = m
	}
	return meta
}

func randomExpiry(rng *rand.Rand) time.Time {
	t := time.Date(2026+rng.IntN(3), time.Month(1+rng.IntN(12)), 1+rng.IntN(28), rng.IntN(24), rng.IntN(60), rng.IntN(60), 0, time.UTC)
	switch rng.IntN(4) {
	case 0:
		t = t.Add(time.Duration(rng.IntN(1e9))) // fractional seconds
	case 1:
		t = t.In(time.FixedZone("X", 2*3600)) // not UTC
	}
	return t
}

func addSignatures[T metadata.Roles](rng *rand.Rand, md *metadata.Metadata[T], odd bool) {
	for i := range rng.IntN(4) {
		sig := make([]byte, 64)
		for j := range sig {
			sig[j] = byte(rng.IntN(256))
		}
		s := metadata.Signature{KeyID: fmt.Sprintf("%064x", i+1), Signature: sig}
		if odd && rng.IntN(5) == 0 {
			s.UnrecognizedFields = map[string]any{"x-note": "n"}
		}
		md.Signatures = append(md.Signatures, s)
	}
}

func sameEncoding[T metadata.Roles](t *testing.T, md *metadata.Metadata[T]) {
	t.Helper()
	want, err := cjson.EncodeCanonical(md.Signed)
	if err != nil {
		t.Fatal(err)
	}
	got, err := tufmeta.Canonical(md)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("canonical form differs (%v):\nours   %s\ngo-tuf %s", err, got, want)
	}
	if md.Signatures == nil {
		md.Signatures = []metadata.Signature{}
	}
	want, err = md.ToBytes(false)
	if err != nil {
		t.Fatal(err)
	}
	got, err = tufmeta.Encode(md)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("encoding differs (%v):\nours   %s\ngo-tuf %s", err, got, want)
	}
	sameSignEncode(t, md)
}

// sameSignEncode checks that SignEncode, which builds the canonical form
// once for both the signature and the encoding, returns what Sign then
// go-tuf's encoding return (ed25519 signatures are deterministic).
func sameSignEncode[T metadata.Roles](t *testing.T, md *metadata.Metadata[T]) {
	t.Helper()
	got, err := tufmeta.SignEncode(md, alice)
	if err != nil {
		t.Fatal(err)
	}
	if err := tufmeta.Sign(md, alice); err != nil {
		t.Fatal(err)
	}
	want, err := md.ToBytes(false)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("SignEncode differs from Sign and go-tuf's encoding:\nours   %s\ngo-tuf %s", got, want)
	}
}

// The snapshot and timestamp are signed and encoded without go-tuf's
// marshalling; the bytes must be exactly go-tuf's, whatever the role holds.
func TestFastEncodingMatchesGoTUF(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 3000 {
		odd := i%3 == 0
		snap := metadata.Snapshot(randomExpiry(rng))
		snap.Signed.Version = rng.Int64N(1 << 40)
		snap.Signed.Meta = randomMeta(rng, rng.IntN(40), odd)
		if odd && rng.IntN(5) == 0 {
			snap.Signed.UnrecognizedFields = map[string]any{"x-hallmark-shard": map[string]any{"shard": "0a"}}
		}
		if odd && rng.IntN(5) == 0 {
			snap.UnrecognizedFields = map[string]any{"x-envelope": true}
		}
		addSignatures(rng, snap, odd)
		sameEncoding(t, snap)

		ts := metadata.Timestamp(randomExpiry(rng))
		ts.Signed.Version = rng.Int64N(1 << 40)
		ts.Signed.Meta = randomMeta(rng, 1, odd)
		addSignatures(rng, ts, odd)
		sameEncoding(t, ts)

		rel := randomReleases(rng, rng.IntN(30), odd)
		addSignatures(rng, rel, odd)
		sameEncoding(t, rel)
		// And read back, it is what go-tuf reads.
		enc, err := tufmeta.Encode(rel)
		if err != nil {
			t.Fatal(err)
		}
		if !sameAsGoTUF[metadata.TargetsType](t, enc) {
			t.Fatalf("Decode refuses the encoding of a releases role:\n%s", enc)
		}
	}
}

// randomReleases returns a releases role with n targets, a few (when odd
// is set) in shapes the fast path leaves to go-tuf: custom fields, unknown
// fields, names that need escaping, a delegation.
func randomReleases(rng *rand.Rand, n int, odd bool) *tufmeta.Targets {
	md := metadata.Targets(randomExpiry(rng))
	md.Signed.Version = rng.Int64N(1 << 40)
	names := []string{"demo/index.json", "demo/1.0/demo-1.0.tar.gz", "demo/2.0rc1/demo-2.0rc1-py3-none-any.whl", "a.b-c/1/x_y.zip"}
	if odd {
		names = append(names, `demo/1.0/qu"ote`, "demo/1.0/émile", "demo/1.0/a<b&c", "demo/1.0/back\\slash")
	}
	for i := range n {
		h := make([]byte, 32)
		for j := range h {
			h[j] = byte(rng.IntN(256))
		}
		tf := &metadata.TargetFiles{Length: rng.Int64N(1 << 40), Hashes: metadata.Hashes{"sha256": h}}
		if rng.IntN(6) == 0 {
			tf.Hashes["sha512"] = append(h, h...)
		}
		if odd && rng.IntN(8) == 0 {
			custom := json.RawMessage(`{"b":1,"a":[true,null]}`)
			tf.Custom = &custom
		}
		if odd && rng.IntN(8) == 0 {
			tf.UnrecognizedFields = map[string]any{"x-extra": "v"}
		}
		md.Signed.Targets[fmt.Sprintf("%s.%d", names[rng.IntN(len(names))], i)] = tf
	}
	if odd && rng.IntN(6) == 0 {
		md.Signed.UnrecognizedFields = map[string]any{"x-hallmark-labels": map[string]any{"k": "alice"}}
	}
	if odd && rng.IntN(6) == 0 {
		md.Signed.Delegations = &metadata.Delegations{Keys: map[string]*metadata.Key{}, Roles: []metadata.DelegatedRole{}}
	}
	return md
}

// A nil meta (which go-tuf writes as null) is left to go-tuf.
// SignEncodeInOrder gives SignEncode's bytes whatever names it is given:
// the snapshot's names in order are used as they are, anything else is
// ignored (the names are sorted as SignEncode sorts them).
func TestSignEncodeInOrderIsSignEncode(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 300 {
		snap := metadata.Snapshot(randomExpiry(rng))
		snap.Signed.Version = rng.Int64N(1 << 40)
		snap.Signed.Meta = randomMeta(rng, 1+rng.IntN(40), i%3 == 0)
		sorted := slices.Sorted(maps.Keys(snap.Signed.Meta))
		swapped := slices.Clone(sorted)
		if len(swapped) > 1 {
			swapped[0], swapped[1] = swapped[1], swapped[0]
		}
		for _, names := range [][]string{
			sorted, nil, swapped,
			sorted[1:],                                             // one missing
			append(slices.Clone(sorted), "~.json"),                 // one more
			append([]string{sorted[0]}, sorted...),                 // a repeat
			append(slices.Clone(sorted[:len(sorted)-1]), "~.json"), // one other
		} {
			snap.Signatures = nil
			want, werr := tufmeta.SignEncode(snap, alice)
			snap.Signatures = nil
			got, gerr := tufmeta.SignEncodeInOrder(snap, names, alice)
			if (werr == nil) != (gerr == nil) || !bytes.Equal(got, want) {
				t.Fatalf("names %q: SignEncodeInOrder = %s, %v; SignEncode = %s, %v", names, got, gerr, want, werr)
			}
		}
	}
}

func TestFastEncodingOfNilMeta(t *testing.T) {
	snap := metadata.Snapshot(expires)
	snap.Signed.Meta = nil
	sameEncoding(t, snap)
}

func BenchmarkSignSnapshot(b *testing.B) {
	snap := metadata.Snapshot(expires)
	for i := range 248 { // a shard's snapshot at 500,000 projects and 4,096 shards
		snap.Signed.Meta[fmt.Sprintf("project-%03d.json", i)] = metadata.MetaFile(int64(i))
	}
	b.Run("hallmark", func(b *testing.B) {
		for b.Loop() {
			snap.Signatures = nil
			tufmeta.Sign(snap, alice)
			tufmeta.Encode(snap)
		}
	})
	b.Run("hallmark-once", func(b *testing.B) {
		for b.Loop() {
			snap.Signatures = nil
			tufmeta.SignEncode(snap, alice)
		}
	})
	b.Run("go-tuf", func(b *testing.B) {
		for b.Loop() {
			msg, _ := cjson.EncodeCanonical(snap.Signed)
			_, _ = alice.Sign(msg)
			snap.ToBytes(false)
		}
	})
}
