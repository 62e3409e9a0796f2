package ceremony_test

import (
	"encoding/json"
	"testing"

	"hallmark.dev/hallmark/ceremony"
	"hallmark.dev/hallmark/signing"
)

// initBundle is a real, fully signed init ceremony of one shard.
func initBundle(tb testing.TB) []byte {
	tb.Helper()
	shards, tf, err := ceremony.Init(params(1), signers())
	if err != nil {
		tb.Fatal(err)
	}
	b := ceremony.Bundle{Format: ceremony.BundleFormat, Kind: ceremony.KindInit, Shards: 1, Created: now, Trust: tf}
	for _, sh := range shards {
		var c ceremony.ShardChange
		c.Shard = sh.ID
		if err := c.Encode(&ceremony.Roles{Shard: sh.ID, Root: sh.Root, Targets: sh.Targets, Claimed: sh.Claimed}); err != nil {
			tb.Fatal(err)
		}
		b.Changes = append(b.Changes, c)
	}
	data, err := json.Marshal(b)
	if err != nil {
		tb.Fatal(err)
	}
	return data
}

// FuzzParseBundle: a ceremony file (passed between admins, posted to the
// server by anyone) is refused, or parses into changes whose roles decode
// or are refused, and whose trust summary is checked, without a panic.
func FuzzParseBundle(f *testing.F) {
	f.Add(initBundle(f))
	f.Add([]byte(`{"format":"hallmark-ceremony-v1","kind":"claim","shards":1,"changes":[{"shard":"0","claims":{"p":{"keys":{},"keyids":["a"],"threshold":1}}}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := ceremony.ParseBundle(data)
		if err != nil {
			return
		}
		if b.Format != ceremony.BundleFormat || len(b.Changes) == 0 {
			t.Fatalf("ParseBundle accepted format %q with %d changes", b.Format, len(b.Changes))
		}
		for _, c := range b.Changes {
			r, err := c.Decode()
			if err != nil {
				continue
			}
			var again ceremony.ShardChange
			if err := again.Encode(r); err != nil {
				t.Fatalf("decoded roles do not encode again: %v", err)
			}
		}
		ceremony.CheckTrust(b)
		ceremony.OnlineOf(b)
	})
}

// FuzzParseOnline: an online keys file (from the server to the admins) is
// refused or names a valid public key for every role of every shard.
func FuzzParseOnline(f *testing.F) {
	o, err := ceremony.ExportOnline(1, func(shard, role string) (*signing.Key, error) { return signing.DeriveOnline(secret, shard, role) })
	if err != nil {
		f.Fatal(err)
	}
	good, err := json.Marshal(o)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte(`{"shards":1,"keys":{"0":{}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		o, err := ceremony.ParseOnline(data)
		if err != nil {
			return
		}
		for _, r := range ceremony.OnlineRoles {
			if o.Key("0", r).Key == nil && o.Shards == 1 {
				t.Fatalf("accepted online keys without a %s key for shard 0", r)
			}
		}
		o.Fingerprint()
	})
}
