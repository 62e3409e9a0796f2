package witness_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"hallmark.dev/hallmark/ceremony"
	"hallmark.dev/hallmark/layout"
	"hallmark.dev/hallmark/signing"
	"hallmark.dev/hallmark/trust"
	"hallmark.dev/hallmark/tufmeta"
	. "hallmark.dev/hallmark/witness"
)

var (
	now        = time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	rootKey    = signing.FromSeed(bytes.Repeat([]byte{1}, 32), "root")
	targetsKey = signing.FromSeed(bytes.Repeat([]byte{2}, 32), "targets")
	claimKey   = signing.FromSeed(bytes.Repeat([]byte{3}, 32), "claim")
	mallory    = signing.FromSeed(bytes.Repeat([]byte{66}, 32), "mallory")
	online     = bytes.Repeat([]byte{7}, 32)
	online2    = bytes.Repeat([]byte{8}, 32)
	wsecret    = bytes.Repeat([]byte{9}, 32)
)

const shard = "0" // the shard of a 1-shard repository

func onlineKey(t testing.TB, secret []byte, role string) *signing.Key {
	t.Helper()
	k, err := signing.DeriveOnline(secret, shard, role)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func witnessKey(t testing.TB) *signing.Key {
	t.Helper()
	k, err := signing.DeriveWitness(wsecret, "w1", shard)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// fixture is one shard of a 1-shard repository with one witness (this
// one), and a way to make the timestamps its server would ask it to sign.
type fixture struct {
	t     testing.TB
	wkey  *signing.Key
	trust *trust.File
	roots [][]byte
	root  *tufmeta.Root
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	wk := &Keys{Name: "w1", URL: "http://w1", Shards: 1, Keys: map[string]string{shard: witnessKey(t).Public().String()}}
	return newFixtureWith(t, wk, witnessKey(t))
}

// newFixtureWith makes a repository whose one witness has the keys wk.
func newFixtureWith(t testing.TB, wk *Keys, wkey *signing.Key) *fixture {
	t.Helper()
	if got := layout.ShardIDs(1); len(got) != 1 || got[0] != shard {
		t.Fatalf("shard ids of 1 shard: %v", got)
	}
	shards, tf, err := ceremony.Init(ceremony.Params{
		Shards: 1,
		Keys: ceremony.Keys{Root: []signing.PublicKey{rootKey.Public()}, RootThreshold: 1,
			Targets: []signing.PublicKey{targetsKey.Public()}, TargetsThreshold: 1,
			Claim: []signing.PublicKey{claimKey.Public()}, ClaimThreshold: 1},
		Online:    func(s, role string) signing.PublicKey { return onlineKey(t, online, role).Public() },
		Witnesses: []*Keys{wk},
		Policy:    layout.DefaultPolicy(), Now: now,
	}, ceremony.Signers{Root: []*signing.Key{rootKey}, Targets: []*signing.Key{targetsKey}, Claim: []*signing.Key{claimKey}})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, wkey: wkey, trust: tf, root: shards[0].Root}
	b, err := tufmeta.Encode(shards[0].Root)
	if err != nil {
		t.Fatal(err)
	}
	f.roots = [][]byte{b}
	return f
}

func (f *fixture) rules() Rules {
	return Rules{Trust: f.trust, KeyID: func(string) string { return f.wkey.ID() }, MaxExpiry: DefaultMaxExpiry, Now: now}
}

// spec describes a timestamp and its snapshot.
type spec struct {
	ts, snap  int64
	meta      map[string]int64
	tsExpires time.Duration // from now; default 1 day
	tsSigner  *signing.Key  // default: the online timestamp key
	snapSign  *signing.Key  // default: the online snapshot key
	badHash   bool
}

func (f *fixture) request(s spec) Request {
	f.t.Helper()
	snap := metadata.Snapshot(now.Add(7 * 24 * time.Hour))
	snap.Signed.Version = s.snap
	snap.Signed.Meta = map[string]*metadata.MetaFiles{}
	for name, v := range s.meta {
		snap.Signed.Meta[name] = metadata.MetaFile(v)
	}
	if s.snapSign == nil {
		s.snapSign = onlineKey(f.t, online, layout.RoleSnapshot)
	}
	if err := tufmeta.Sign(snap, s.snapSign); err != nil {
		f.t.Fatal(err)
	}
	snapData, err := tufmeta.Encode(snap)
	if err != nil {
		f.t.Fatal(err)
	}
	if s.tsExpires == 0 {
		s.tsExpires = 24 * time.Hour
	}
	ts := metadata.Timestamp(now.Add(s.tsExpires))
	ts.Signed.Version = s.ts
	sum := sha256.Sum256(snapData)
	if s.badHash {
		sum[0] ^= 1
	}
	ts.Signed.Meta["snapshot.json"] = &metadata.MetaFiles{Version: s.snap, Length: int64(len(snapData)), Hashes: metadata.Hashes{"sha256": sum[:]}}
	if s.tsSigner == nil {
		s.tsSigner = onlineKey(f.t, online, layout.RoleTimestamp)
	}
	if err := tufmeta.Sign(ts, s.tsSigner); err != nil {
		f.t.Fatal(err)
	}
	tsData, err := tufmeta.Encode(ts)
	if err != nil {
		f.t.Fatal(err)
	}
	return Request{Shard: shard, Roots: f.roots, Timestamp: tsData, Snapshot: snapData}
}

// accept runs Check and fails the test unless it co-signs.
func (f *fixture) accept(prev *State, r Request) *State {
	f.t.Helper()
	d, err := Check(f.rules(), prev, r)
	if err != nil {
		f.t.Fatalf("refused: %v", err)
	}
	return &d.State
}

var base = map[string]int64{"targets.json": 1, "claimed.0.json": 3, "new.0.json": 5, "demo.json": 2, "demo.releases.json": 4}

func with(m map[string]int64, name string, v int64) map[string]int64 {
	out := map[string]int64{}
	for k, x := range m {
		out[k] = x
	}
	if v < 0 {
		delete(out, name)
	} else {
		out[name] = v
	}
	return out
}

func TestCheckCosignsAGoodSuccessor(t *testing.T) {
	f := newFixture(t)
	st := f.accept(nil, f.request(spec{ts: 10, snap: 7, meta: base}))
	if st.TimestampVersion != 10 || st.SnapshotVersion != 7 || st.RootVersion != 1 || st.Meta["claimed.0.json"].Version != 3 {
		t.Fatalf("state %+v", st)
	}
	// New releases, a new claimed bin, a new project: all fine.
	next := with(with(base, "claimed.0.json", 4), "other.json", 1)
	st = f.accept(st, f.request(spec{ts: 11, snap: 8, meta: next}))
	// A timestamp renewal over the same snapshot, too.
	f.accept(st, f.request(spec{ts: 12, snap: 8, meta: next}))
}

// Every rollback, freeze-by-rollback or forgery a server holding the online
// keys could ask for, after the witness co-signed ts 10 / snapshot 7 / base.
func TestCheckRefusesRollbacksAndForgeries(t *testing.T) {
	f := newFixture(t)
	prev := f.accept(nil, f.request(spec{ts: 10, snap: 7, meta: base}))
	tests := []struct {
		desc string
		req  Request
		want string
	}{
		{"older timestamp version", f.request(spec{ts: 9, snap: 8, meta: base}), "rollback: timestamp version 9"},
		{"same timestamp version, other content", f.request(spec{ts: 10, snap: 8, meta: base}), "versions are never reused"},
		{"older snapshot version", f.request(spec{ts: 11, snap: 6, meta: base}), "rollback: snapshot version 6"},
		{"same snapshot version, other content", f.request(spec{ts: 11, snap: 7, meta: with(base, "demo.json", 3)}), "snapshot version 7 of shard 0 was co-signed before with other content"},
		{"claimed bin rolled back (before a claim)", f.request(spec{ts: 11, snap: 8, meta: with(base, "claimed.0.json", 2)}), "lists claimed.0.json at version 2"},
		{"releases role rolled back (before a yank)", f.request(spec{ts: 11, snap: 8, meta: with(base, "demo.releases.json", 3)}), "lists demo.releases.json at version 3"},
		{"project dropped from the snapshot", f.request(spec{ts: 11, snap: 8, meta: with(base, "demo.json", -1)}), "drops demo.json"},
		{"targets dropped", f.request(spec{ts: 11, snap: 8, meta: with(base, "targets.json", -1)}), "drops targets.json"},
		{"timestamp signed by another key", f.request(spec{ts: 11, snap: 8, meta: base, tsSigner: mallory}), "not signed by the online key"},
		{"timestamp signed by the snapshot key", f.request(spec{ts: 11, snap: 8, meta: base, tsSigner: onlineKey(t, online, layout.RoleSnapshot)}), "not signed by the online key"},
		{"snapshot signed by another key", f.request(spec{ts: 11, snap: 8, meta: base, snapSign: mallory}), "snapshot of shard 0 is not signed"},
		{"timestamp names another snapshot hash", f.request(spec{ts: 11, snap: 8, meta: base, badHash: true}), "another length or sha256"},
		{"timestamp expires too far ahead", f.request(spec{ts: 11, snap: 8, meta: base, tsExpires: 30 * 24 * time.Hour}), "more than 26h0m0s from now"},
		{"timestamp expired", f.request(spec{ts: 11, snap: 8, meta: base, tsExpires: -time.Hour}), "expired"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			_, err := Check(f.rules(), prev, tt.req)
			var ref *Refusal
			if !errors.As(err, &ref) {
				t.Fatalf("Check = %v; want a refusal", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("refusal %q does not say %q", err, tt.want)
			}
		})
	}
	// A refused request leaves the witness willing to sign the honest next one.
	f.accept(prev, f.request(spec{ts: 11, snap: 8, meta: base}))
}

func TestCheckRepeatsTheLastSignatureForTheSameTimestamp(t *testing.T) {
	f := newFixture(t)
	req := f.request(spec{ts: 10, snap: 7, meta: base})
	st := f.accept(nil, req)
	d, err := Check(f.rules(), st, req)
	if err != nil || !d.Repeat {
		t.Fatalf("the same timestamp again: %v, repeat %v", err, d.Repeat)
	}
}

func TestCheckFollowsTheRootChain(t *testing.T) {
	f := newFixture(t)
	st := f.accept(nil, f.request(spec{ts: 10, snap: 7, meta: base}))

	// The admins rotate the online keys: root version 2.
	rotate := func(signers ...*signing.Key) []byte {
		r := cloneRoot(t, f.root)
		r.Signed.Version = 2
		keys, err := tufmeta.SplitTimestamp(r)
		if err != nil {
			t.Fatal(err)
		}
		entries, wkeys := keys.Witnesses, []signing.PublicKey{witnessKey(t).Public()}
		if err := tufmeta.SetTimestampKeys(r, []signing.PublicKey{onlineKey(t, online2, layout.RoleTimestamp).Public()}, entries, wkeys, 2); err != nil {
			t.Fatal(err)
		}
		r.Signed.Keys[onlineKey(t, online2, layout.RoleSnapshot).ID()] = onlineKey(t, online2, layout.RoleSnapshot).Public().TUF()
		r.Signed.Roles[layout.RoleSnapshot].KeyIDs = []string{onlineKey(t, online2, layout.RoleSnapshot).ID()}
		r.Signatures = nil
		if err := tufmeta.Sign(r, signers...); err != nil {
			t.Fatal(err)
		}
		b, err := tufmeta.Encode(r)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	newKeys := spec{ts: 11, snap: 8, meta: base, tsSigner: onlineKey(t, online2, layout.RoleTimestamp), snapSign: onlineKey(t, online2, layout.RoleSnapshot)}

	forged := f.request(newKeys)
	forged.Roots = append(f.roots, rotate(mallory))
	if _, err := Check(f.rules(), st, forged); err == nil || !strings.Contains(err.Error(), "root version 2") {
		t.Fatalf("a root version 2 signed by another key: %v", err)
	}

	good := f.request(newKeys)
	good.Roots = append(f.roots, rotate(rootKey))
	st2 := f.accept(st, good)
	if st2.RootVersion != 2 {
		t.Fatalf("root version %d after the rotation", st2.RootVersion)
	}
	// The old online key gets nothing signed any more, even without roots
	// in the request.
	old := f.request(spec{ts: 12, snap: 9, meta: base})
	old.Roots = nil
	if _, err := Check(f.rules(), st2, old); err == nil || !strings.Contains(err.Error(), "not signed by the online key of root version 2") {
		t.Fatalf("old online key after a rotation: %v", err)
	}
}

func TestCheckRefusesWhatItCannotPlace(t *testing.T) {
	f := newFixture(t)
	noRoots := f.request(spec{ts: 1, snap: 1, meta: base})
	noRoots.Roots = nil
	otherShard := f.request(spec{ts: 1, snap: 1, meta: base})
	otherShard.Shard = "a"
	rules := f.rules()
	notMe := rules
	notMe.KeyID = func(string) string { return mallory.ID() }
	tests := []struct {
		desc  string
		rules Rules
		req   Request
		want  string
	}{
		{"no root at first contact", rules, noRoots, "send its root version 1"},
		{"a shard the repository does not have", rules, otherShard, "is not a shard of this repository"},
		{"a witness the root does not name", notMe, f.request(spec{ts: 1, snap: 1, meta: base}), "is not a witness of shard 0"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			_, err := Check(tt.rules, nil, tt.req)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Check = %v; want %q", err, tt.want)
			}
		})
	}
}

func cloneRoot(t testing.TB, r *tufmeta.Root) *tufmeta.Root {
	t.Helper()
	b, err := tufmeta.Encode(r)
	if err != nil {
		t.Fatal(err)
	}
	out, err := tufmeta.Decode[metadata.RootType](b)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
