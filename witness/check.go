// Package witness is an independent co-signer of a Hallmark repository's
// timestamps.
//
// TUF protects a client from rollback only against metadata it has seen
// before: a fresh client can be served any old metadata that has not
// expired. A witness closes that gap for every client, standard ones
// included. Each shard's root names the server's online timestamp key and
// the witnesses' keys for the timestamp role, with a threshold the online
// key cannot meet alone; a witness co-signs a shard's new timestamp only
// after checking, against everything it co-signed for that shard before,
// what a client that had seen all of it would check:
//
//   - the shard's root chain, followed from the root the repository's trust
//     file pins: each newer root signed by a threshold of the previous one's
//     root keys and of its own;
//   - the timestamp and the snapshot it names signed by the online keys of
//     the newest root the witness knows (so an old online key gets nothing
//     signed after a rotation), and this witness still a key of the
//     timestamp role;
//   - the timestamp version grows, its expiry is in the future and within
//     a bound (so no co-signed timestamp outlives the bound), and it names
//     the snapshot by version, length and sha256;
//   - the snapshot version never goes back; the snapshot keeps every role
//     the last co-signed snapshot listed, none at a lower version, and a
//     role listed with a hash keeps that hash while its version stays.
//
// It persists the new state before it answers, so a crash never lets it
// sign a rollback, and it refuses with a reason otherwise.
//
// Check is the pure decision; Service adds the key, the state store and
// the HTTP API.
package witness

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"hallmark.dev/hallmark/layout"
	"hallmark.dev/hallmark/trust"
	"hallmark.dev/hallmark/tufmeta"
)

// MetaEntry is what a co-signed snapshot said of one role.
type MetaEntry struct {
	Version int64  `json:"version"`
	SHA256  string `json:"sha256,omitempty"`
}

// State is what a witness remembers of one shard: the newest root it
// verified and the last timestamp and snapshot it co-signed.
type State struct {
	Shard       string `json:"shard"`
	Root        []byte `json:"root"`
	RootVersion int64  `json:"root_version"`
	// TimestampVersion and TimestampSigned identify the last co-signed
	// timestamp: its version and the sha256 of its signed part.
	TimestampVersion int64                `json:"timestamp_version"`
	TimestampSigned  string               `json:"timestamp_signed"`
	TimestampExpires time.Time            `json:"timestamp_expires"`
	SnapshotVersion  int64                `json:"snapshot_version"`
	SnapshotSHA256   string               `json:"snapshot_sha256"`
	Meta             map[string]MetaEntry `json:"meta"`
	// Cosigned is the last co-signed timestamp with this witness's
	// signature added, for anyone who asks what the witness last signed.
	Cosigned []byte    `json:"cosigned"`
	Updated  time.Time `json:"updated"`
}

// Request asks a witness to co-sign one shard's timestamp. Roots are the
// shard's roots the witness may not know yet, oldest first; Timestamp is
// signed by the online key; Snapshot is the snapshot it names.
type Request struct {
	Shard     string   `json:"shard"`
	Roots     [][]byte `json:"roots,omitempty"`
	Timestamp []byte   `json:"timestamp"`
	Snapshot  []byte   `json:"snapshot"`
}

// Refusal is a request the witness will not co-sign, with the reason.
type Refusal struct{ Reason string }

func (r *Refusal) Error() string { return r.Reason }

func refuse(format string, args ...any) error {
	return &Refusal{Reason: fmt.Sprintf(format, args...)}
}

// Rules are the fixed inputs of Check.
type Rules struct {
	Trust *trust.File
	// KeyID returns this witness's key id for a shard.
	KeyID func(shard string) string
	// MaxExpiry bounds how far in the future a co-signed timestamp may
	// expire.
	MaxExpiry time.Duration
	Now       time.Time
}

// Decision is the outcome of an accepted check: the state to persist and
// the timestamp to sign.
type Decision struct {
	State     State
	Timestamp *tufmeta.Timestamp
	// Repeat is set when the timestamp is the one co-signed last: signing it
	// again changes nothing (a retry after a lost answer).
	Repeat bool
}

// Check decides whether to co-sign req given the shard's state (nil when
// the witness never saw the shard). It does no I/O.
func Check(rules Rules, prev *State, req Request) (Decision, error) {
	if !slices.Contains(layout.ShardIDs(rules.Trust.Shards), req.Shard) {
		return Decision{}, refuse("%q is not a shard of this repository (%d shards)", req.Shard, rules.Trust.Shards)
	}
	st := State{Shard: req.Shard}
	if prev != nil {
		st = *prev
		st.Meta = prev.Meta
	}
	root, err := followRoots(rules, &st, req)
	if err != nil {
		return Decision{}, err
	}
	keys, err := tufmeta.SplitTimestamp(root)
	if err != nil {
		return Decision{}, refuse("root version %d of shard %s: %v", root.Signed.Version, req.Shard, err)
	}
	self := rules.KeyID(req.Shard)
	if !slices.ContainsFunc(keys.Witnesses, func(w tufmeta.Witness) bool { return w.KeyID == self }) {
		return Decision{}, refuse("this witness (key %s) is not a witness of shard %s in its root version %d", short(self), req.Shard, root.Signed.Version)
	}

	ts, err := tufmeta.Decode[metadata.TimestampType](req.Timestamp)
	if err != nil {
		return Decision{}, refuse("timestamp: %v", err)
	}
	online := keys.Online
	online.Threshold = 1
	if err := tufmeta.Verify(ts, online, "timestamp"); err != nil {
		return Decision{}, refuse("timestamp of shard %s is not signed by the online key of root version %d: %v", req.Shard, root.Signed.Version, err)
	}
	signed, err := tufmeta.Canonical(ts)
	if err != nil {
		return Decision{}, refuse("timestamp: %v", err)
	}
	signedSum := hexSum(signed)
	if prev != nil && ts.Signed.Version == prev.TimestampVersion {
		if signedSum != prev.TimestampSigned {
			return Decision{}, refuse("timestamp version %d of shard %s was co-signed before with other content: versions are never reused", ts.Signed.Version, req.Shard)
		}
		return Decision{State: st, Timestamp: ts, Repeat: true}, nil
	}
	if prev != nil && ts.Signed.Version < prev.TimestampVersion {
		return Decision{}, refuse("rollback: timestamp version %d of shard %s is older than version %d, co-signed before", ts.Signed.Version, req.Shard, prev.TimestampVersion)
	}
	if tufmeta.Expired(ts.Signed.Expires, rules.Now) {
		return Decision{}, refuse("timestamp of shard %s expired at %s", req.Shard, ts.Signed.Expires.Format(time.RFC3339))
	}
	if ts.Signed.Expires.After(rules.Now.Add(rules.MaxExpiry)) {
		return Decision{}, refuse("timestamp of shard %s expires at %s, more than %s from now: a co-signed timestamp could be replayed to fresh clients for that long", req.Shard, ts.Signed.Expires.Format(time.RFC3339), rules.MaxExpiry)
	}

	snapMeta, ok := ts.Signed.Meta["snapshot.json"]
	if !ok || len(ts.Signed.Meta) != 1 {
		return Decision{}, refuse("timestamp of shard %s must name exactly snapshot.json", req.Shard)
	}
	sum := sha256.Sum256(req.Snapshot)
	if snapMeta.Length != int64(len(req.Snapshot)) || !bytes.Equal(snapMeta.Hashes["sha256"], sum[:]) {
		return Decision{}, refuse("timestamp of shard %s names a snapshot of another length or sha256 than the one sent (it must name both)", req.Shard)
	}
	snap, err := tufmeta.Decode[metadata.SnapshotType](req.Snapshot)
	if err != nil {
		return Decision{}, refuse("snapshot: %v", err)
	}
	snapKeys, err := tufmeta.RootDelegation(root, layout.RoleSnapshot)
	if err != nil {
		return Decision{}, refuse("root: %v", err)
	}
	if err := tufmeta.Verify(snap, snapKeys, "snapshot"); err != nil {
		return Decision{}, refuse("snapshot of shard %s is not signed by the online key of root version %d: %v", req.Shard, root.Signed.Version, err)
	}
	if snap.Signed.Version != snapMeta.Version {
		return Decision{}, refuse("timestamp names snapshot version %d but the snapshot sent is version %d", snapMeta.Version, snap.Signed.Version)
	}
	if tufmeta.Expired(snap.Signed.Expires, rules.Now) {
		return Decision{}, refuse("snapshot of shard %s expired at %s", req.Shard, snap.Signed.Expires.Format(time.RFC3339))
	}
	snapSum := hex.EncodeToString(sum[:])
	if prev != nil {
		switch {
		case snap.Signed.Version < prev.SnapshotVersion:
			return Decision{}, refuse("rollback: snapshot version %d of shard %s is older than version %d, co-signed before", snap.Signed.Version, req.Shard, prev.SnapshotVersion)
		case snap.Signed.Version == prev.SnapshotVersion && snapSum != prev.SnapshotSHA256:
			return Decision{}, refuse("snapshot version %d of shard %s was co-signed before with other content: versions are never reused", snap.Signed.Version, req.Shard)
		}
	}
	meta := make(map[string]MetaEntry, len(snap.Signed.Meta))
	for name, m := range snap.Signed.Meta {
		e := MetaEntry{Version: m.Version}
		if h, ok := m.Hashes["sha256"]; ok {
			e.SHA256 = hex.EncodeToString(h)
		}
		meta[name] = e
	}
	if err := checkMeta(req.Shard, st.Meta, meta); err != nil {
		return Decision{}, err
	}

	st.TimestampVersion = ts.Signed.Version
	st.TimestampSigned = signedSum
	st.TimestampExpires = ts.Signed.Expires
	st.SnapshotVersion = snap.Signed.Version
	st.SnapshotSHA256 = snapSum
	st.Meta = meta
	st.Updated = rules.Now
	return Decision{State: st, Timestamp: ts}, nil
}

// checkMeta refuses a snapshot that drops a role the last co-signed one
// listed, lists one at a lower version, or changes a listed hash without a
// new version: what every TUF client checks against a snapshot it saw.
func checkMeta(shard string, prev, next map[string]MetaEntry) error {
	names := make([]string, 0, len(prev))
	for n := range prev {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, name := range names {
		old := prev[name]
		cur, ok := next[name]
		switch {
		case !ok:
			return refuse("rollback: the snapshot of shard %s drops %s, listed at version %d in the snapshot co-signed before", shard, name, old.Version)
		case cur.Version < old.Version:
			return refuse("rollback: the snapshot of shard %s lists %s at version %d, older than version %d co-signed before", shard, name, cur.Version, old.Version)
		case cur.Version == old.Version && old.SHA256 != "" && cur.SHA256 != old.SHA256:
			return refuse("the snapshot of shard %s lists %s version %d with another hash than co-signed before", shard, name, cur.Version)
		}
	}
	return nil
}

// followRoots verifies the roots in req that are newer than the state's,
// in order, and returns the newest. The first root of a shard is checked
// against the trust file.
func followRoots(rules Rules, st *State, req Request) (*tufmeta.Root, error) {
	var cur *tufmeta.Root
	if st.Root != nil {
		r, err := tufmeta.Decode[metadata.RootType](st.Root)
		if err != nil {
			return nil, fmt.Errorf("stored root of shard %s: %w", req.Shard, err)
		}
		cur = r
	}
	for _, b := range req.Roots {
		next, err := tufmeta.Decode[metadata.RootType](b)
		if err != nil {
			return nil, refuse("root: %v", err)
		}
		switch {
		case cur == nil:
			if next.Signed.Version != rules.Trust.ShardRootVersion(req.Shard) {
				continue // older than the pin, or not the first link yet
			}
			if _, err := rules.Trust.CheckShardRoot(req.Shard, b); err != nil {
				return nil, refuse("%v", err)
			}
		case next.Signed.Version <= cur.Signed.Version:
			continue // known already
		case next.Signed.Version != cur.Signed.Version+1:
			return nil, refuse("root version %d of shard %s does not follow version %d: send every root version in between", next.Signed.Version, req.Shard, cur.Signed.Version)
		default:
			if err := verifyRootUpdate(req.Shard, rules.Trust.Shards, cur, next); err != nil {
				return nil, err
			}
		}
		cur, st.Root, st.RootVersion = next, b, next.Signed.Version
	}
	if cur == nil {
		return nil, refuse("shard %s: send its root version %d (the version the trust file pins) and every later one", req.Shard, rules.Trust.ShardRootVersion(req.Shard))
	}
	return cur, nil
}

// verifyRootUpdate applies TUF's rule for a new root: signed by a threshold
// of the previous root's root keys and of its own, naming the same shard.
func verifyRootUpdate(shard string, shards int, cur, next *tufmeta.Root) error {
	for _, r := range []*tufmeta.Root{cur, next} {
		d, err := tufmeta.RootDelegation(r, layout.RoleRoot)
		if err != nil {
			return refuse("root version %d of shard %s: %v", r.Signed.Version, shard, err)
		}
		if err := tufmeta.Verify(next, d, fmt.Sprintf("root version %d", next.Signed.Version)); err != nil {
			return refuse("root version %d of shard %s: %v", next.Signed.Version, shard, err)
		}
	}
	if err := trust.CheckIdentity("root", next.Signed.UnrecognizedFields, shard, shards); err != nil {
		return refuse("%v", err)
	}
	return nil
}

// ErrUnknownShard is returned for a shard the witness never co-signed.
var ErrUnknownShard = errors.New("this witness has co-signed nothing for that shard yet")

func hexSum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func short(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}
