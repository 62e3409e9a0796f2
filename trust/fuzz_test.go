package trust_test

import (
	"testing"

	"hallmark.dev/hallmark/signing"

	"hallmark.dev/hallmark/layout"
	"hallmark.dev/hallmark/trust"
)

// FuzzParse: a trust file (what `hallmark trust` downloads from a server
// not trusted yet) either is refused or is consistent: a valid shard count,
// a reachable threshold, every key under its own id, and a fingerprint.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"shards":16,"root_keys":{},"root_threshold":1,"root_version":1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		tf, err := trust.Parse(b)
		if err != nil {
			return
		}
		if layout.CheckShardCount(tf.Shards) != nil || tf.RootThreshold < 1 || tf.RootThreshold > len(tf.RootKeys) || tf.RootVersion < 1 {
			t.Fatalf("Parse accepted an inconsistent trust file: %+v", tf)
		}
		for id, k := range tf.RootKeys {
			if got, err := k.ID(); err != nil || got != id {
				t.Fatalf("key listed as %s has id %s (%v)", id, got, err)
			}
		}
		if len(tf.Fingerprint()) != 64 {
			t.Fatalf("fingerprint %q", tf.Fingerprint())
		}
	})
}

// FuzzCheckShardRoot: no bytes but a root signed by the pinned keys, for
// this shard, pass as a shard's root (the seeds are real signed roots; the
// fuzzer mutates them).
func FuzzCheckShardRoot(f *testing.F) {
	f.Add(shardRoot(f, rootSpec{shard: "3", shards: 16, version: 1, signers: []*signing.Key{alice, bob}}))
	f.Add(shardRoot(f, rootSpec{shard: "3", shards: 16, version: 2, signers: []*signing.Key{alice}}))
	f.Add(shardRoot(f, rootSpec{shard: "4", shards: 16, version: 1, signers: []*signing.Key{alice, bob}}))
	good := shardRoot(f, rootSpec{shard: "3", shards: 16, version: 1, signers: []*signing.Key{alice, bob}})
	f.Fuzz(func(t *testing.T, b []byte) {
		root, err := pin().CheckShardRoot("3", b)
		if err != nil {
			return
		}
		if err := trust.CheckIdentity("root", root.Signed.UnrecognizedFields, "3", 16); err != nil {
			t.Fatalf("accepted a root of another shard: %v", err)
		}
		// The only seed that passes is the good one; whatever else passes
		// must carry the same signed part (JSON spacing aside).
		if string(b) != string(good) && root.Signed.Version != 1 {
			t.Fatalf("accepted a root that is not the signed one:\n%s", b)
		}
	})
}
