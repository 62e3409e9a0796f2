package witness_test

import (
	"testing"

	"hallmark.dev/hallmark/witness"
)

// FuzzCheck feeds the witness arbitrary timestamps, snapshots and roots on
// top of a co-signed state. Whatever it accepts must move the timestamp
// forward (or repeat the last one exactly), and it never panics.
func FuzzCheck(f *testing.F) {
	fx := newFixture(f)
	first := fx.request(spec{ts: 10, snap: 7, meta: base})
	d, err := witness.Check(fx.rules(), nil, first)
	if err != nil {
		f.Fatal(err)
	}
	prev := d.State
	next := fx.request(spec{ts: 11, snap: 8, meta: with(base, "claimed.0.json", 4)})
	rollback := fx.request(spec{ts: 11, snap: 8, meta: with(base, "claimed.0.json", 2)})
	for _, r := range []witness.Request{first, next, rollback} {
		f.Add(r.Timestamp, r.Snapshot, r.Roots[0])
	}
	f.Fuzz(func(t *testing.T, ts, snap, root []byte) {
		st := prev
		req := witness.Request{Shard: shard, Timestamp: ts, Snapshot: snap, Roots: [][]byte{root}}
		d, err := witness.Check(fx.rules(), &st, req)
		if err != nil {
			return
		}
		if !d.Repeat && d.State.TimestampVersion <= prev.TimestampVersion {
			t.Fatalf("accepted timestamp version %d after %d", d.State.TimestampVersion, prev.TimestampVersion)
		}
		if d.State.SnapshotVersion < prev.SnapshotVersion {
			t.Fatalf("accepted snapshot version %d after %d", d.State.SnapshotVersion, prev.SnapshotVersion)
		}
		for name, e := range prev.Meta {
			if got, ok := d.State.Meta[name]; !ok || got.Version < e.Version {
				t.Fatalf("accepted a snapshot that lowers or drops %s", name)
			}
		}
	})
}
