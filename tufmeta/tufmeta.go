// Package tufmeta wraps go-tuf's metadata types in the few small, typed
// operations Hallmark needs: strict decoding with size limits, compact
// encoding, signing with Hallmark keys, and counting the valid signatures of
// a role against the keys its delegating role names.
//
// Trust rule: bytes decoded here are unverified. They become trusted only
// when Verify (or a caller's threshold check built on Signatures) accepts
// them against keys from already-trusted metadata.
package tufmeta

import (
	"fmt"
	"time"

	"github.com/secure-systems-lab/go-securesystemslib/cjson"
	"github.com/theupdateframework/go-tuf/v2/metadata"

	"hallmark.dev/hallmark/signing"
)

// Aliases for the go-tuf types Hallmark passes around.
type (
	// Root is root metadata.
	Root = metadata.Metadata[metadata.RootType]
	// Targets is targets metadata (the top-level role, bins and project roles).
	Targets = metadata.Metadata[metadata.TargetsType]
	// Snapshot is snapshot metadata.
	Snapshot = metadata.Metadata[metadata.SnapshotType]
	// Timestamp is timestamp metadata.
	Timestamp = metadata.Metadata[metadata.TimestampType]
)

// MaxRoleSize bounds any targets metadata Hallmark accepts: below the
// 5,000,000 bytes go-tuf, tuf-js and python-tuf accept by default.
const MaxRoleSize = 4 << 20

// Canonical returns the canonical JSON of the signed part: the bytes that
// signatures cover.
func Canonical[T metadata.Roles](md *metadata.Metadata[T]) ([]byte, error) {
	if b, ok := fastSigned(nil, any(&md.Signed)); ok {
		return b, nil
	}
	b, err := cjson.EncodeCanonical(md.Signed)
	if err != nil {
		return nil, fmt.Errorf("failed to encode canonical JSON: %w", err)
	}
	return b, nil
}

// Sign appends a signature by each key, replacing any earlier signature by
// the same key.
func Sign[T metadata.Roles](md *metadata.Metadata[T], keys ...*signing.Key) error {
	msg, err := Canonical(md)
	if err != nil {
		return err
	}
	return signMessage(md, msg, keys)
}

// signMessage signs msg, the canonical form of md's signed part, by each
// key, replacing any earlier signature by the same key.
func signMessage[T metadata.Roles](md *metadata.Metadata[T], msg []byte, keys []*signing.Key) error {
	for _, k := range keys {
		id := k.ID()
		sigs := md.Signatures[:0]
		for _, s := range md.Signatures {
			if s.KeyID != id {
				sigs = append(sigs, s)
			}
		}
		sig, err := k.Sign(msg)
		if err != nil {
			return err
		}
		md.Signatures = append(sigs, metadata.Signature{KeyID: id, Signature: sig})
	}
	return nil
}

// SignEncode signs md by each key, like Sign, and returns its compact
// encoding, like Encode. For a snapshot or timestamp in the shape Hallmark
// writes, the canonical form of the signed part is built once and serves
// both as the signed message and inside the encoding (they are the same
// bytes); other roles are signed and encoded separately.
func SignEncode[T metadata.Roles](md *metadata.Metadata[T], keys ...*signing.Key) ([]byte, error) {
	return signEncode(md, nil, keys)
}

// SignEncodeInOrder is SignEncode for a snapshot whose meta names the
// caller holds in increasing order (names): sorting them was two fifths of
// encoding a snapshot of 2,500 entries. names that are not exactly the
// snapshot's meta names, in order, are ignored (the names are sorted then,
// as by SignEncode), so the result is SignEncode's either way.
func SignEncodeInOrder(md *Snapshot, names []string, keys ...*signing.Key) ([]byte, error) {
	return signEncode(md, names, keys)
}

func signEncode[T metadata.Roles](md *metadata.Metadata[T], names []string, keys []*signing.Key) ([]byte, error) {
	msg, ok := fastSignedInOrder(nil, any(&md.Signed), names)
	if !ok {
		if err := Sign(md, keys...); err != nil {
			return nil, err
		}
		return Encode(md)
	}
	if err := signMessage(md, msg, keys); err != nil {
		return nil, err
	}
	if md.Signatures == nil {
		md.Signatures = []metadata.Signature{}
	}
	if b, ok := fastEnvelope(md, msg); ok {
		return b, nil
	}
	return md.ToBytes(false)
}

// Encode returns the compact JSON form Hallmark stores and serves.
func Encode[T metadata.Roles](md *metadata.Metadata[T]) ([]byte, error) {
	if md.Signatures == nil {
		md.Signatures = []metadata.Signature{}
	}
	if b, ok := fastEncode(md); ok {
		return b, nil
	}
	return md.ToBytes(false)
}

// Decode parses metadata of type T strictly: bounded size, the right _type,
// no trailing data. The result is unverified.
func Decode[T metadata.Roles](b []byte) (*metadata.Metadata[T], error) {
	if len(b) > MaxRoleSize {
		return nil, fmt.Errorf("metadata is %d bytes; the limit is %d", len(b), MaxRoleSize)
	}
	md, err := decode[T](b)
	if err != nil {
		return nil, fmt.Errorf("metadata is malformed: %w", err)
	}
	return md, nil
}

// SigCount is the outcome of checking a role's signatures against the keys
// of its delegation.
type SigCount struct {
	Valid     []string // key ids of the delegation whose signatures verify
	Bad       []string // key ids of the delegation whose signatures do not verify
	Unknown   []string // key ids that the delegation does not name
	Threshold int
}

// Met reports whether the valid signatures reach the threshold.
func (c SigCount) Met() bool { return c.Threshold > 0 && len(c.Valid) >= c.Threshold }

// Delegation is what a delegating role says about one delegated role: its
// keys and threshold. Keys holds exactly the keys named by KeyIDs.
type Delegation struct {
	Keys      map[string]*metadata.Key
	KeyIDs    []string
	Threshold int
}

// RootDelegation returns the keys root names for a top-level role.
func RootDelegation(root *Root, role string) (Delegation, error) {
	r, ok := root.Signed.Roles[role]
	if !ok {
		return Delegation{}, fmt.Errorf("root does not delegate %s", role)
	}
	return pick(root.Signed.Keys, r.KeyIDs, r.Threshold, role)
}

// TargetsDelegation returns the keys a targets role names for a delegated role.
func TargetsDelegation(parent *Targets, role string) (Delegation, *metadata.DelegatedRole, error) {
	if parent.Signed.Delegations == nil {
		return Delegation{}, nil, fmt.Errorf("no delegation found for %s", role)
	}
	for i := range parent.Signed.Delegations.Roles {
		r := &parent.Signed.Delegations.Roles[i]
		if r.Name == role {
			d, err := pick(parent.Signed.Delegations.Keys, r.KeyIDs, r.Threshold, role)
			return d, r, err
		}
	}
	return Delegation{}, nil, fmt.Errorf("no delegation found for %s", role)
}

func pick(all map[string]*metadata.Key, ids []string, threshold int, role string) (Delegation, error) {
	d := Delegation{Keys: map[string]*metadata.Key{}, KeyIDs: ids, Threshold: threshold}
	for _, id := range ids {
		k, ok := all[id]
		if !ok {
			return Delegation{}, fmt.Errorf("delegation of %s names key %s that is not listed", role, id)
		}
		d.Keys[id] = k
	}
	return d, nil
}

// Count checks each signature of md against the delegation. A key id is
// counted once however often it signs.
func Count[T metadata.Roles](md *metadata.Metadata[T], d Delegation) (SigCount, error) {
	msg, err := Canonical(md)
	if err != nil {
		return SigCount{}, err
	}
	c := SigCount{Threshold: d.Threshold}
	seen := map[string]bool{}
	voted := map[string]bool{} // public keys that already counted
	for _, s := range md.Signatures {
		if seen[s.KeyID] {
			continue
		}
		seen[s.KeyID] = true
		k, ok := d.Keys[s.KeyID]
		if !ok {
			c.Unknown = append(c.Unknown, s.KeyID)
			continue
		}
		pub, err := signing.PublicFromTUF(k)
		if err == nil && pub.Verify(msg, s.Signature) {
			if voted[string(pub.Raw())] {
				continue // the same key under another id counts once
			}
			voted[string(pub.Raw())] = true
			c.Valid = append(c.Valid, s.KeyID)
		} else {
			c.Bad = append(c.Bad, s.KeyID)
		}
	}
	return c, nil
}

// Verify returns nil if md carries valid signatures from a threshold of the
// delegation's keys.
func Verify[T metadata.Roles](md *metadata.Metadata[T], d Delegation, role string) error {
	c, err := Count(md, d)
	if err != nil {
		return err
	}
	if !c.Met() {
		return fmt.Errorf("%s is signed by %d of the %d keys required", role, len(c.Valid), d.Threshold)
	}
	return nil
}

// NewDelegation builds a delegation from public keys and a threshold.
func NewDelegation(keys []signing.PublicKey, threshold int) Delegation {
	d := Delegation{Keys: map[string]*metadata.Key{}, Threshold: threshold}
	for _, k := range keys {
		id := k.ID()
		if _, dup := d.Keys[id]; dup {
			continue
		}
		d.Keys[id] = k.TUF()
		d.KeyIDs = append(d.KeyIDs, id)
	}
	return d
}

// Expired reports whether a role's expiry is at or before now.
func Expired(expires, now time.Time) bool { return !now.Before(expires) }
