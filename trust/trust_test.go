package trust_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"hallmark.dev/hallmark/signing"
	"hallmark.dev/hallmark/trust"
	"hallmark.dev/hallmark/tufmeta"
)

var (
	alice = signing.FromSeed(bytes.Repeat([]byte{1}, 32), "alice")
	bob   = signing.FromSeed(bytes.Repeat([]byte{2}, 32), "bob")
	carol = signing.FromSeed(bytes.Repeat([]byte{3}, 32), "carol")
	mal   = signing.FromSeed(bytes.Repeat([]byte{66}, 32), "mallory")
)

var expires = time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)

// pin is what a downloader pins: alice and bob, both needed, 16 shards.
func pin() *trust.File {
	return &trust.File{
		Shards:        16,
		RootKeys:      map[string]*metadata.Key{alice.ID(): alice.Public().TUF(), bob.ID(): bob.Public().TUF()},
		RootThreshold: 2,
		RootVersion:   1,
	}
}

type rootSpec struct {
	shard   string
	shards  int
	version int64
	signers []*signing.Key
	noIdent bool
}

func shardRoot(t *testing.T, s rootSpec) []byte {
	t.Helper()
	root := metadata.Root(expires)
	root.Signed.Version = s.version
	for _, k := range []*signing.Key{alice, bob} {
		root.Signed.Keys[k.ID()] = k.Public().TUF()
		root.Signed.Roles["root"].KeyIDs = append(root.Signed.Roles["root"].KeyIDs, k.ID())
	}
	root.Signed.Roles["root"].Threshold = 2
	if !s.noIdent {
		trust.SetIdentity(&root.Signed.UnrecognizedFields, trust.Identity{Shard: s.shard, Shards: s.shards})
	}
	if err := tufmeta.Sign(root, s.signers...); err != nil {
		t.Fatal(err)
	}
	b, err := tufmeta.Encode(root)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCheckShardRootAcceptsTheShardsOwnRoot(t *testing.T) {
	b := shardRoot(t, rootSpec{shard: "a", shards: 16, version: 1, signers: []*signing.Key{alice, bob}})
	root, err := pin().CheckShardRoot("a", b)
	if err != nil {
		t.Fatal(err)
	}
	if root.Signed.Version != 1 {
		t.Errorf("version %d", root.Signed.Version)
	}
	// A later root (after a rotation) is fine too.
	b = shardRoot(t, rootSpec{shard: "a", shards: 16, version: 5, signers: []*signing.Key{alice, bob}})
	if _, err := pin().CheckShardRoot("a", b); err != nil {
		t.Errorf("root version 5: %v", err)
	}
}

func TestCheckShardRootRefusesForeignRoots(t *testing.T) {
	both := []*signing.Key{alice, bob}
	tests := []struct {
		desc   string
		served string // the shard the root is served as
		root   rootSpec
		pinVer int64
	}{
		{"replay of another shard's root", "a", rootSpec{shard: "b", shards: 16, version: 1, signers: both}, 1},
		{"root of another shard count", "a", rootSpec{shard: "a", shards: 256, version: 1, signers: both}, 1},
		{"root of a one-shard repository", "0", rootSpec{shard: "0", shards: 1, version: 1, signers: both}, 1},
		{"root without a shard identity", "a", rootSpec{version: 1, signers: both, noIdent: true}, 1},
		{"signed by other keys", "a", rootSpec{shard: "a", shards: 16, version: 1, signers: []*signing.Key{mal, carol}}, 1},
		{"below the threshold", "a", rootSpec{shard: "a", shards: 16, version: 1, signers: []*signing.Key{alice}}, 1},
		{"one pinned key and an outsider", "a", rootSpec{shard: "a", shards: 16, version: 1, signers: []*signing.Key{alice, mal}}, 1},
		{"rollback to an older root", "a", rootSpec{shard: "a", shards: 16, version: 2, signers: both}, 3},
		{"unsigned", "a", rootSpec{shard: "a", shards: 16, version: 1}, 1},
	}
	for _, tt := range tests {
		f := pin()
		f.RootVersion = tt.pinVer
		if _, err := f.CheckShardRoot(tt.served, shardRoot(t, tt.root)); err == nil {
			t.Errorf("%s: CheckShardRoot accepted it", tt.desc)
		}
	}
}

func TestCheckShardRootRefusesOtherMetadata(t *testing.T) {
	md := metadata.Targets(expires)
	trust.SetIdentity(&md.Signed.UnrecognizedFields, trust.Identity{Shard: "a", Shards: 16})
	tufmeta.Sign(md, alice, bob)
	b, _ := tufmeta.Encode(md)
	if _, err := pin().CheckShardRoot("a", b); err == nil {
		t.Error("CheckShardRoot accepted targets metadata as a root")
	}
	if _, err := pin().CheckShardRoot("a", []byte("{}")); err == nil {
		t.Error("CheckShardRoot accepted {}")
	}
}

// Attack: tamper with a valid root byte by byte; the pin must never accept
// a root whose signed content changed.
func TestTamperedShardRootNeverPasses(t *testing.T) {
	good := shardRoot(t, rootSpec{shard: "a", shards: 16, version: 1, signers: []*signing.Key{alice, bob}})
	orig, err := pin().CheckShardRoot("a", good)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := tufmeta.Canonical(orig)
	for i := range good {
		for _, mask := range []byte{0x01, 0x02, 0x20} {
			bad := bytes.Clone(good)
			bad[i] ^= mask
			root, err := pin().CheckShardRoot("a", bad)
			if err != nil {
				continue
			}
			if c, _ := tufmeta.Canonical(root); !bytes.Equal(c, want) {
				t.Fatalf("flipping %#x at byte %d (%q) passes with changed content:\n%s", mask, i, good[i], c)
			}
		}
	}
}

func TestIdentity(t *testing.T) {
	var fields map[string]any
	trust.SetIdentity(&fields, trust.Identity{Shard: "0f", Shards: 256})
	if err := trust.CheckIdentity("targets", fields, "0f", 256); err != nil {
		t.Errorf("CheckIdentity of its own identity: %v", err)
	}
	for _, c := range []struct {
		shard  string
		shards int
	}{{"0e", 256}, {"0f", 4096}, {"f", 16}} {
		if err := trust.CheckIdentity("targets", fields, c.shard, c.shards); err == nil {
			t.Errorf("identity 0f/256 passed as %s/%d", c.shard, c.shards)
		}
	}
	if err := trust.CheckIdentity("targets", map[string]any{trust.ShardField: "0f"}, "0f", 256); err == nil {
		t.Error("a malformed identity passed")
	}
	if err := trust.CheckIdentity("targets", nil, "0f", 256); err == nil {
		t.Error("a missing identity passed")
	}
}

func TestFingerprint(t *testing.T) {
	base := pin().Fingerprint()
	if len(base) != 64 {
		t.Errorf("fingerprint %q is not a sha256", base)
	}
	// Stable: the same pin, built again, keeps the fingerprint (a newer
	// root version changes it: TestFingerprintCoversRootVersions).
	for i := range 20 {
		if pin().Fingerprint() != base {
			t.Fatalf("fingerprint changed on rebuild %d", i)
		}
	}
	changes := []struct {
		desc string
		f    func(f *trust.File)
	}{
		{"another key", func(f *trust.File) {
			delete(f.RootKeys, bob.ID())
			f.RootKeys[carol.ID()] = carol.Public().TUF()
		}},
		{"one key fewer", func(f *trust.File) { delete(f.RootKeys, bob.ID()); f.RootThreshold = 1 }},
		{"lower threshold", func(f *trust.File) { f.RootThreshold = 1 }},
		{"more shards", func(f *trust.File) { f.Shards = 256 }},
	}
	for _, c := range changes {
		f := pin()
		c.f(f)
		if f.Fingerprint() == base {
			t.Errorf("%s: fingerprint unchanged", c.desc)
		}
	}
}

func TestParseTrustFile(t *testing.T) {
	good, _ := json.Marshal(pin())
	f, err := trust.Parse(good)
	if err != nil {
		t.Fatal(err)
	}
	if f.Fingerprint() != pin().Fingerprint() {
		t.Error("parsed trust file has another fingerprint")
	}
	edit := func(fn func(f *trust.File)) []byte {
		f := pin()
		fn(f)
		b, _ := json.Marshal(f)
		return b
	}
	tests := []struct {
		desc string
		data []byte
	}{
		{"not JSON", []byte("nope")},
		{"bad shard count", edit(func(f *trust.File) { f.Shards = 17 })},
		{"no keys", edit(func(f *trust.File) { f.RootKeys = nil; f.RootThreshold = 0 })},
		{"threshold zero", edit(func(f *trust.File) { f.RootThreshold = 0 })},
		{"threshold above the keys", edit(func(f *trust.File) { f.RootThreshold = 3 })},
		{"key under another id", edit(func(f *trust.File) { f.RootKeys[bob.ID()] = carol.Public().TUF() })},
		{"root version zero", edit(func(f *trust.File) { f.RootVersion = 0 })},
	}
	for _, tt := range tests {
		if _, err := trust.Parse(tt.data); err == nil {
			t.Errorf("%s: Parse accepted it", tt.desc)
		}
	}
	if !strings.Contains(string(good), `"root_keys"`) {
		t.Errorf("trust file fields are not snake_case: %s", good)
	}
}

// The fingerprint covers everything a client relies on later: a trust file
// whose root versions were edited (to start fresh clients from a root whose
// online keys were rotated away) does not pass for the published one.
func TestFingerprintCoversRootVersions(t *testing.T) {
	base := pin()
	fp := base.Fingerprint()
	edits := []struct {
		desc string
		edit func(f *trust.File)
	}{
		{"root version", func(f *trust.File) { f.RootVersion = 2 }},
		{"one shard's root version", func(f *trust.File) { f.RootVersions = map[string]int64{"a": 3} }},
		{"threshold", func(f *trust.File) { f.RootThreshold = 1 }},
		{"shard count", func(f *trust.File) { f.Shards = 256 }},
		{"a root key", func(f *trust.File) { delete(f.RootKeys, bob.ID()) }},
	}
	for _, e := range edits {
		f := pin()
		e.edit(f)
		if f.Fingerprint() == fp {
			t.Errorf("editing the %s keeps the fingerprint", e.desc)
		}
	}
	same := pin()
	same.RootVersions = map[string]int64{"a": 1} // says nothing new
	if same.Fingerprint() != fp {
		t.Error("a per-shard version equal to the common one changes the fingerprint")
	}
}
