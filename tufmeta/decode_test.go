package tufmeta_test

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"hallmark.dev/hallmark/layout"
	"hallmark.dev/hallmark/signing"
	"hallmark.dev/hallmark/tufmeta"
)

// seedRoles returns encoded roles of every type, with delegations, custom
// fields and several signatures: the shapes a repository publishes.
func seedRoles(t testing.TB) [][]byte {
	t.Helper()
	rel := releasesRole()
	rel.Signed.UnrecognizedFields = map[string]any{"x-hallmark-labels": map[string]any{"k": "alice"}}
	bin := metadata.Targets(expires)
	tufmeta.SetProjectDelegation(bin, "demo", delegation(2, alice, bob, carol))
	tufmeta.SetProjectDelegation(bin, "other", delegation(1, mal))
	snap := metadata.Snapshot(expires)
	snap.Signed.Meta["demo.releases.json"] = metadata.MetaFile(4)
	ts := metadata.Timestamp(expires)
	root := metadata.Root(expires)
	root.Signed.UnrecognizedFields = map[string]any{"x-hallmark-shard": map[string]any{"shard": "0a", "shards": 4096.0}}
	var out [][]byte
	add := func(b []byte, err error) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	tufmeta.Sign(rel, alice)
	tufmeta.Sign(rel, bob)
	tufmeta.Sign(bin, carol)
	tufmeta.Sign(snap, alice)
	tufmeta.Sign(ts, alice)
	tufmeta.Sign(root, alice)
	add(tufmeta.Encode(rel))
	add(tufmeta.Encode(bin))
	add(tufmeta.Encode(snap))
	add(tufmeta.Encode(ts))
	add(tufmeta.Encode(root))
	return out
}

// sameAsGoTUF checks, for one role type, that whatever Decode accepts
// go-tuf's FromBytes accepts too, with a deeply equal result.
func sameAsGoTUF[T metadata.Roles](t *testing.T, data []byte) (accepted bool) {
	t.Helper()
	ours, err := tufmeta.Decode[T](data)
	if err != nil {
		return false
	}
	theirs, err := new(metadata.Metadata[T]).FromBytes(data)
	if err != nil {
		t.Fatalf("Decode accepted what go-tuf refuses (%v):\n%s", err, data)
	}
	if !reflect.DeepEqual(ours, theirs) {
		t.Fatalf("Decode and go-tuf differ:\nours   %#v\ngo-tuf %#v\ninput %s", ours, theirs, data)
	}
	return true
}

func checkAllTypes(t *testing.T, data []byte) int {
	n := 0
	for _, ok := range []bool{
		sameAsGoTUF[metadata.TargetsType](t, data),
		sameAsGoTUF[metadata.SnapshotType](t, data),
		sameAsGoTUF[metadata.TimestampType](t, data),
		sameAsGoTUF[metadata.RootType](t, data),
	} {
		if ok {
			n++
		}
	}
	return n
}

// Decode parses the envelope itself for speed; it must never accept what
// go-tuf refuses, nor read anything differently.
func FuzzDecodeMatchesGoTUF(f *testing.F) {
	for _, b := range seedRoles(f) {
		f.Add(b)
	}
	f.Add([]byte(`{"signed":{"_type":"targets","_TYPE":"snapshot","spec_version":"1.0.31","version":1,"expires":"2030-01-01T00:00:00Z","targets":{}},"signatures":[]}`))
	f.Add([]byte(`{"signed":{"_type":"targets","spec_version":"1.0.31","version":1,"expires":"2030-01-01T00:00:00Z","targets":{}},"Signatures":[{"keyid":"a","sig":"b"}],"signatures":[]}`))
	f.Add([]byte(`{"signed":null,"signatures":[]}`))
	// A releases role as every upload carries it (the fast decoder's shape).
	plainRel := releasesRole()
	tufmeta.Sign(plainRel, alice)
	if b, err := tufmeta.Encode(plainRel); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkAllTypes(t, data)
	})
}

// Every published shape decodes, as exactly one type, the same as go-tuf
// decodes it; and the ambiguous inputs encoding/json would read one way and
// go-tuf another are refused.
func TestDecodeMatchesGoTUF(t *testing.T) {
	for i, b := range seedRoles(t) {
		if n := checkAllTypes(t, b); n != 1 {
			t.Errorf("seed %d decodes as %d types; want 1", i, n)
		}
	}
	good := string(seedRoles(t)[0])
	for _, tt := range []struct{ desc, data string }{
		{"envelope key in other case", strings.Replace(good, `"signatures"`, `"Signatures"`, 1)},
		{"second signed in other case", strings.Replace(good, `{"signatures"`, `{"SIGNED":{},"signatures"`, 1)},
		{"_type given twice in two cases", strings.Replace(good, `"_type":"targets"`, `"_type":"targets","_TYPE":"snapshot"`, 1)},
		{"signed is null", `{"signed":null,"signatures":[]}`},
		{"duplicate signature key ids", strings.Replace(good, `"signatures":[`, `"signatures":[{"keyid":"aa","sig":"bb"},{"keyid":"aa","sig":"bb"},`, 1)},
	} {
		if _, err := tufmeta.Decode[metadata.TargetsType]([]byte(tt.data)); err == nil {
			t.Errorf("%s: accepted", tt.desc)
		}
		checkAllTypes(t, []byte(tt.data))
	}
	// Unknown envelope fields are kept, as go-tuf keeps them.
	extra := strings.Replace(good, `{"signatures"`, `{"x-note":[1,"two"],"signatures"`, 1)
	md, err := tufmeta.Decode[metadata.TargetsType]([]byte(extra))
	if err != nil || !reflect.DeepEqual(md.UnrecognizedFields["x-note"], []any{1.0, "two"}) {
		t.Errorf("unknown envelope field: %v, %v", md, err)
	}
	checkAllTypes(t, []byte(extra))
}

func BenchmarkDecode(b *testing.B) {
	plain := releasesRole() // as uploads carry it: no labels
	tufmeta.Sign(plain, alice)
	plainData, err := tufmeta.Encode(plain)
	if err != nil {
		b.Fatal(err)
	}
	roles := append(seedRoles(b)[:3], plainData)
	for i, data := range roles {
		name := []string{"releases-labelled", "bin", "snapshot", "releases"}[i]
		b.Run(name+"/hallmark", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if i == 2 {
					tufmeta.Decode[metadata.SnapshotType](data)
				} else {
					tufmeta.Decode[metadata.TargetsType](data)
				}
			}
		})
		b.Run(name+"/go-tuf", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if i == 2 {
					new(metadata.Metadata[metadata.SnapshotType]).FromBytes(data)
				} else {
					new(metadata.Metadata[metadata.TargetsType]).FromBytes(data)
				}
			}
		})
	}
}

// LookupDelegation reads one delegation of a bin exactly as decoding the
// whole bin and calling TargetsDelegation does, for every delegated role,
// and fails the same way for a role that is not there.
func TestLookupDelegationMatchesDecode(t *testing.T) {
	bin := metadata.Targets(expires)
	keys := []*signing.Key{alice, bob, carol, mal}
	names := []string{}
	for i := range 300 {
		name := fmt.Sprintf("project-%03d", i)
		names = append(names, layout.OwnersRole(name))
		d := delegation(1+i%2, keys[i%4], keys[(i+1)%4])
		if i%7 == 0 {
			d = delegation(1, keys[i%4])
		}
		tufmeta.SetProjectDelegation(bin, name, d)
	}
	tufmeta.Sign(bin, carol)
	data, err := tufmeta.Encode(bin)
	if err != nil {
		t.Fatal(err)
	}
	decoded, err := tufmeta.Decode[metadata.TargetsType](data)
	if err != nil {
		t.Fatal(err)
	}
	for _, role := range append(names, "missing", "") {
		want, wantRole, wantErr := tufmeta.TargetsDelegation(decoded, role)
		got, gotRole, gotErr := tufmeta.LookupDelegation(data, role)
		if (wantErr == nil) != (gotErr == nil) || !reflect.DeepEqual(want, got) || !reflect.DeepEqual(wantRole, gotRole) {
			t.Fatalf("%s: LookupDelegation = %v, %v, %v; decoding gives %v, %v, %v", role, got, gotRole, gotErr, want, wantRole, wantErr)
		}
	}
	// A name written with escapes is still found.
	escaped := bytes.ReplaceAll(data, []byte(`project-001`), []byte(`project-\u0030\u00301`))
	if bytes.Equal(escaped, data) {
		t.Fatal("the escaped form was not made")
	}
	got, _, err := tufmeta.LookupDelegation(escaped, names[1])
	if err != nil || !reflect.DeepEqual(got.KeyIDs, mustDelegation(t, decoded, names[1]).KeyIDs) {
		t.Errorf("escaped name: %v, %v", got, err)
	}
	// A repeated "signed" counts whole, as go-tuf reads it: the second,
	// empty one hides the first's delegations.
	twice := append(bytes.TrimSuffix(bytes.Clone(data), []byte("}")), []byte(`,"signed":{"_type":"targets","spec_version":"1.0.31","version":1,"expires":"2030-01-01T00:00:00Z","targets":{}}}`)...)
	if dec, err := tufmeta.Decode[metadata.TargetsType](twice); err != nil || dec.Signed.Delegations != nil {
		t.Fatalf("the doubled bin decodes to %v, %v", dec, err)
	}
	if _, _, err := tufmeta.LookupDelegation(twice, names[1]); err == nil {
		t.Error("a delegation was found in the hidden first signed part")
	}
	// A bin without delegations, another role type, and broken JSON.
	empty, _ := tufmeta.Encode(metadata.Targets(expires))
	snap, _ := tufmeta.Encode(metadata.Snapshot(expires))
	for desc, data := range map[string][]byte{"no delegations": empty, "a snapshot": snap, "truncated": data[:len(data)/2]} {
		if _, _, err := tufmeta.LookupDelegation(data, names[0]); err == nil {
			t.Errorf("%s: found a delegation", desc)
		}
	}
}

func mustDelegation(t *testing.T, bin *tufmeta.Targets, role string) tufmeta.Delegation {
	t.Helper()
	d, _, err := tufmeta.TargetsDelegation(bin, role)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func BenchmarkLookupDelegation(b *testing.B) {
	bin := metadata.Targets(expires)
	for i := range 124 { // a shard's bin at 500,000 projects and 4,096 shards
		tufmeta.SetProjectDelegation(bin, fmt.Sprintf("project-%03d", i), delegation(1, alice))
	}
	data, _ := tufmeta.Encode(bin)
	role := layout.OwnersRole("project-100")
	b.Run("lookup", func(b *testing.B) {
		for b.Loop() {
			tufmeta.LookupDelegation(data, role)
		}
	})
	b.Run("decode", func(b *testing.B) {
		for b.Loop() {
			md, _ := tufmeta.Decode[metadata.TargetsType](data)
			tufmeta.TargetsDelegation(md, role)
		}
	})
}
