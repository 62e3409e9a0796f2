package tufmeta_test

import (
	"bytes"
	"crypto/sha256"
	"slices"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"hallmark.dev/hallmark/layout"
	"hallmark.dev/hallmark/signing"
	"hallmark.dev/hallmark/tufmeta"
)

var (
	alice = signing.FromSeed(bytes.Repeat([]byte{1}, 32), "alice")
	bob   = signing.FromSeed(bytes.Repeat([]byte{2}, 32), "bob")
	carol = signing.FromSeed(bytes.Repeat([]byte{3}, 32), "carol")
	mal   = signing.FromSeed(bytes.Repeat([]byte{66}, 32), "mallory")
)

var expires = time.Date(2027, 1, 2, 3, 4, 5, 0, time.UTC)

// releasesRole is a small, realistic releases role: an index and two files.
func releasesRole() *tufmeta.Targets {
	md := metadata.Targets(expires)
	md.Signed.Version = 3
	for path, content := range map[string]string{
		"demo/index.json":              `{"project":"demo","releases":[]}`,
		"demo/1.0.0/demo-1.0.0.tar.gz": "source",
		"demo/1.0.0/demo-1.0.0.whl":    "wheel",
	} {
		sum := sha256.Sum256([]byte(content))
		md.Signed.Targets[path] = &metadata.TargetFiles{Length: int64(len(content)), Hashes: metadata.Hashes{"sha256": sum[:]}}
	}
	return md
}

func delegation(threshold int, keys ...*signing.Key) tufmeta.Delegation {
	var pubs []signing.PublicKey
	for _, k := range keys {
		pubs = append(pubs, k.Public())
	}
	return tufmeta.NewDelegation(pubs, threshold)
}

func TestSignCountVerify(t *testing.T) {
	tests := []struct {
		desc    string
		signers []*signing.Key
		del     tufmeta.Delegation
		tamper  bool // change the signed part after signing
		dupSig  bool // repeat the first signature
		valid   int
		bad     int
		unknown int
		met     bool
	}{
		{"one of one", []*signing.Key{alice}, delegation(1, alice), false, false, 1, 0, 0, true},
		{"two of two", []*signing.Key{alice, bob}, delegation(2, alice, bob), false, false, 2, 0, 0, true},
		{"one of two needed", []*signing.Key{alice}, delegation(2, alice, bob), false, false, 1, 0, 0, false},
		{"two of three needed", []*signing.Key{bob, carol}, delegation(2, alice, bob, carol), false, false, 2, 0, 0, true},
		{"unknown key", []*signing.Key{mal}, delegation(1, alice), false, false, 0, 0, 1, false},
		{"unknown key beside a valid one", []*signing.Key{alice, mal}, delegation(1, alice), false, false, 1, 0, 1, true},
		{"signatures broken by a later change", []*signing.Key{alice, bob}, delegation(1, alice, bob), true, false, 0, 2, 0, false},
		{"one key signing twice counts once", []*signing.Key{alice}, delegation(2, alice, bob), false, true, 1, 0, 0, false},
		{"no signatures", nil, delegation(1, alice), false, false, 0, 0, 0, false},
		{"threshold zero never met", []*signing.Key{alice}, delegation(0, alice), false, false, 1, 0, 0, false},
	}
	for _, tt := range tests {
		md := releasesRole()
		if err := tufmeta.Sign(md, tt.signers...); err != nil {
			t.Fatal(err)
		}
		if tt.dupSig {
			md.Signatures = append(md.Signatures, md.Signatures[0])
		}
		if tt.tamper {
			md.Signed.Targets["demo/1.0.0/demo-1.0.0.tar.gz"].Length++
		}
		c, err := tufmeta.Count(md, tt.del)
		if err != nil {
			t.Fatalf("%s: %v", tt.desc, err)
		}
		if len(c.Valid) != tt.valid || len(c.Bad) != tt.bad || len(c.Unknown) != tt.unknown || c.Met() != tt.met {
			t.Errorf("%s: Count = valid %v bad %v unknown %v met %v; want %d/%d/%d met %v",
				tt.desc, c.Valid, c.Bad, c.Unknown, c.Met(), tt.valid, tt.bad, tt.unknown, tt.met)
		}
		if err := tufmeta.Verify(md, tt.del, "demo.releases"); (err == nil) != tt.met {
			t.Errorf("%s: Verify = %v; want met=%v", tt.desc, err, tt.met)
		}
	}
}

// Attack: a signature copied under another key id of the delegation must
// not count for that key.
func TestCountRefusesASignatureUnderAnotherKeyID(t *testing.T) {
	md := releasesRole()
	if err := tufmeta.Sign(md, alice); err != nil {
		t.Fatal(err)
	}
	md.Signatures = append(md.Signatures, metadata.Signature{KeyID: bob.ID(), Signature: md.Signatures[0].Signature})
	c, err := tufmeta.Count(md, delegation(2, alice, bob))
	if err != nil {
		t.Fatal(err)
	}
	if c.Met() || len(c.Valid) != 1 || !slices.Equal(c.Bad, []string{bob.ID()}) {
		t.Errorf("Count = %+v; want alice valid and bob bad", c)
	}
}

func TestSignReplacesAKeysEarlierSignature(t *testing.T) {
	md := releasesRole()
	if err := tufmeta.Sign(md, alice, bob); err != nil {
		t.Fatal(err)
	}
	md.Signed.Version++
	if err := tufmeta.Sign(md, alice); err != nil {
		t.Fatal(err)
	}
	if len(md.Signatures) != 2 {
		t.Fatalf("%d signatures after re-signing; want 2", len(md.Signatures))
	}
	c, _ := tufmeta.Count(md, delegation(1, alice, bob))
	if !slices.Equal(c.Valid, []string{alice.ID()}) || !slices.Equal(c.Bad, []string{bob.ID()}) {
		t.Errorf("after re-signing: valid %v bad %v", c.Valid, c.Bad)
	}
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	md := releasesRole()
	if err := tufmeta.Sign(md, alice); err != nil {
		t.Fatal(err)
	}
	b, err := tufmeta.Encode(md)
	if err != nil {
		t.Fatal(err)
	}
	got, err := tufmeta.Decode[metadata.TargetsType](b)
	if err != nil {
		t.Fatal(err)
	}
	if err := tufmeta.Verify(got, delegation(1, alice), "demo.releases"); err != nil {
		t.Errorf("decoded metadata does not verify: %v", err)
	}
	b2, _ := tufmeta.Encode(got)
	if !bytes.Equal(b, b2) {
		t.Errorf("re-encoding changed the bytes:\n%s\n%s", b, b2)
	}
}

func TestDecodeIsStrict(t *testing.T) {
	md := releasesRole()
	tufmeta.Sign(md, alice)
	good, _ := tufmeta.Encode(md)
	snap := metadata.Snapshot(expires)
	tufmeta.Sign(snap, alice)
	snapBytes, _ := tufmeta.Encode(snap)
	tests := []struct {
		desc string
		data []byte
	}{
		{"empty", nil},
		{"not JSON", []byte("{")},
		{"trailing object", append(bytes.Clone(good), []byte("{}")...)},
		{"trailing garbage", append(bytes.Clone(good), []byte(" x")...)},
		{"another role type", snapBytes},
		{"too large", append(bytes.Clone(good), bytes.Repeat([]byte(" "), tufmeta.MaxRoleSize)...)},
		{"array", []byte("[]")},
		{"null", []byte("null")},
		{"second object on a new line", append(bytes.Clone(good), []byte("\n"+string(good))...)},
		{"trailing NUL", append(bytes.Clone(good), 0)},
		{"invalid UTF-8 outside strings", append(bytes.Clone(good), 0xff)},
	}
	for _, tt := range tests {
		if _, err := tufmeta.Decode[metadata.TargetsType](tt.data); err == nil {
			t.Errorf("%s: Decode accepted it", tt.desc)
		}
	}
	if _, err := tufmeta.Decode[metadata.TargetsType](append(bytes.Clone(good), []byte(" \n")...)); err != nil {
		t.Errorf("trailing white space: %v", err)
	}
}

// Attack, in the style of sumdb's note tests: change signed metadata one
// byte at a time (flip a bit, change a letter's case, delete the byte, put a
// space in) and check that it never both decodes and verifies with other
// signed content than was signed.
func TestTamperedMetadataNeverVerifies(t *testing.T) {
	md := releasesRole()
	md.Signed.Delegations = nil
	if err := tufmeta.Sign(md, alice, bob); err != nil {
		t.Fatal(err)
	}
	del := delegation(2, alice, bob)
	good, err := tufmeta.Encode(md)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := tufmeta.Canonical(md)
	mutations := []struct {
		name string
		f    func(b []byte, i int) []byte
	}{
		{"flip bit 0", func(b []byte, i int) []byte { b = bytes.Clone(b); b[i] ^= 0x01; return b }},
		{"flip case", func(b []byte, i int) []byte { b = bytes.Clone(b); b[i] ^= 0x20; return b }},
		{"delete", func(b []byte, i int) []byte { return append(bytes.Clone(b[:i]), b[i+1:]...) }},
		{"insert space", func(b []byte, i int) []byte { return append(append(bytes.Clone(b[:i]), ' '), b[i:]...) }},
		{"insert digit", func(b []byte, i int) []byte { return append(append(bytes.Clone(b[:i]), '1'), b[i:]...) }},
	}
	verified := 0
	for i := range good {
		for _, m := range mutations {
			bad := m.f(good, i)
			got, err := tufmeta.Decode[metadata.TargetsType](bad)
			if err != nil {
				continue
			}
			if tufmeta.Verify(got, del, "demo.releases") != nil {
				continue
			}
			verified++
			if c, _ := tufmeta.Canonical(got); !bytes.Equal(c, want) {
				t.Errorf("%s at byte %d (%q) verifies with changed content:\n%s", m.name, i, good[i], c)
			}
		}
	}
	// Only changes outside the signed content (blanks, hex case of a
	// signature) may still verify.
	t.Logf("%d of %d mutations still verified, all with the signed content unchanged", verified, len(good)*len(mutations))
}

func TestDelegationLookup(t *testing.T) {
	root := metadata.Root(expires)
	root.Signed.Keys[alice.ID()] = alice.Public().TUF()
	root.Signed.Roles["timestamp"] = &metadata.Role{KeyIDs: []string{alice.ID()}, Threshold: 1}
	d, err := tufmeta.RootDelegation(root, "timestamp")
	if err != nil || d.Threshold != 1 || !slices.Equal(d.KeyIDs, []string{alice.ID()}) {
		t.Errorf("RootDelegation(timestamp) = %+v, %v", d, err)
	}
	if _, err := tufmeta.RootDelegation(root, "mirrors"); err == nil {
		t.Error("RootDelegation found a role root does not name")
	}
	// A role naming a key root does not list is an error, not a smaller set.
	root.Signed.Roles["snapshot"] = &metadata.Role{KeyIDs: []string{bob.ID()}, Threshold: 1}
	if _, err := tufmeta.RootDelegation(root, "snapshot"); err == nil {
		t.Error("RootDelegation accepted a role naming an unlisted key")
	}

	bin := metadata.Targets(expires)
	tufmeta.SetProjectDelegation(bin, "demo", delegation(1, alice))
	tufmeta.SetProjectDelegation(bin, "other", delegation(1, bob))
	d, r, err := tufmeta.TargetsDelegation(bin, "demo")
	if err != nil || !r.Terminating || !slices.Equal(r.Paths, layout.DelegationPaths("demo")) || !slices.Equal(d.KeyIDs, []string{alice.ID()}) {
		t.Errorf("TargetsDelegation(demo) = %+v, %+v, %v", d, r, err)
	}
	if _, _, err := tufmeta.TargetsDelegation(bin, "missing"); err == nil {
		t.Error("TargetsDelegation found a role the bin does not delegate")
	}
	// Replacing a project's owners drops the old owners' keys.
	tufmeta.SetProjectDelegation(bin, "demo", delegation(1, carol))
	if _, ok := bin.Signed.Delegations.Keys[alice.ID()]; ok {
		t.Error("the old owner's key stayed in the bin")
	}
	if len(bin.Signed.Delegations.Roles) != 2 {
		t.Errorf("bin delegates %d roles; want 2", len(bin.Signed.Delegations.Roles))
	}
	tufmeta.RemoveDelegation(bin, "other")
	if _, ok := bin.Signed.Delegations.Keys[bob.ID()]; ok || len(bin.Signed.Delegations.Roles) != 1 {
		t.Error("RemoveDelegation left the role or its key behind")
	}
}

func TestNewDelegationDropsDuplicateKeys(t *testing.T) {
	d := tufmeta.NewDelegation([]signing.PublicKey{alice.Public(), alice.Public(), bob.Public()}, 2)
	if len(d.KeyIDs) != 2 || len(d.Keys) != 2 {
		t.Errorf("NewDelegation kept a duplicate: %v", d.KeyIDs)
	}
}

func TestExpired(t *testing.T) {
	if !tufmeta.Expired(expires, expires) || tufmeta.Expired(expires, expires.Add(-time.Second)) || !tufmeta.Expired(expires, expires.Add(time.Second)) {
		t.Error("Expired is wrong at the boundary")
	}
}
