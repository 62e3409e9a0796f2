package tufview

import (
	"slices"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"hallmark.dev/hallmark/tufmeta"
)

// Verdict is the outcome of checking one role's signatures against the
// keys and threshold that one delegating role names for it.
type Verdict struct {
	// Role is the role checked; Parent the delegating role it was checked against.
	Role, Parent string
	// Delegated is false when Parent does not delegate Role at all.
	Delegated bool
	Threshold int
	// KeyIDs are the keys the delegation names.
	KeyIDs []string
	// Valid are the named keys whose signatures verify, Bad those whose
	// signatures do not, Unknown the signing key ids the delegation does
	// not name, Missing the named keys that did not sign.
	Valid, Bad, Unknown, Missing []string
	// Err says why the check could not be made (a malformed delegation).
	Err string
}

// Verified reports whether a threshold of the delegation's keys signed.
func (v Verdict) Verified() bool {
	return v.Delegated && v.Err == "" && v.Threshold > 0 && len(v.Valid) >= v.Threshold
}

// Verify checks child's signatures against the delegation parent makes to
// it. Root is checked against itself by passing it as both. Ed25519 keys
// are checked with tufmeta.Count, other key types one key at a time with
// go-tuf's VerifyDelegate, so any key type go-tuf supports is checked.
func Verify(child, parent *File) Verdict {
	v := Verdict{Role: child.Role, Parent: parent.Role}
	d, ok := parent.delegationFor(child.Role)
	if !ok {
		v.Err = parent.Role + " " + errNoDelegation.Error()
		return v
	}
	v.Delegated, v.Threshold, v.KeyIDs = true, d.Threshold, d.KeyIDs
	del := tufmeta.Delegation{Keys: map[string]*metadata.Key{}, KeyIDs: d.KeyIDs, Threshold: d.Threshold}
	allEd25519 := true
	for _, id := range d.KeyIDs {
		k, ok := parent.key(id)
		if !ok {
			v.Err = "the delegation names key " + short(id) + ", which " + parent.Role + " does not list"
			return v
		}
		del.Keys[id] = k
		if k.Type != metadata.KeyTypeEd25519 || k.Scheme != metadata.KeySchemeEd25519 {
			allEd25519 = false
		}
	}
	var c tufmeta.SigCount
	var err error
	if allEd25519 {
		c, err = countEd25519(child, del)
	} else {
		c, err = countAny(child, del)
	}
	if err != nil {
		v.Err = err.Error()
		return v
	}
	v.Valid, v.Bad, v.Unknown = c.Valid, c.Bad, c.Unknown
	for _, id := range d.KeyIDs {
		if !slices.Contains(c.Valid, id) && !slices.Contains(c.Bad, id) {
			v.Missing = append(v.Missing, id)
		}
	}
	return v
}

func countEd25519(f *File, d tufmeta.Delegation) (tufmeta.SigCount, error) {
	switch {
	case f.root != nil:
		return tufmeta.Count(f.root, d)
	case f.timestamp != nil:
		return tufmeta.Count(f.timestamp, d)
	case f.snapshot != nil:
		return tufmeta.Count(f.snapshot, d)
	default:
		return tufmeta.Count(f.targets, d)
	}
}

// countAny checks each signature with go-tuf, by asking a one-key root
// whether that key alone verifies the role.
func countAny(f *File, d tufmeta.Delegation) (tufmeta.SigCount, error) {
	c := tufmeta.SigCount{Threshold: d.Threshold}
	seen := map[string]bool{}
	for _, s := range f.signatures() {
		if seen[s.KeyID] {
			continue
		}
		seen[s.KeyID] = true
		k, ok := d.Keys[s.KeyID]
		if !ok {
			c.Unknown = append(c.Unknown, s.KeyID)
			continue
		}
		one := metadata.Root()
		one.Signed.Keys = map[string]*metadata.Key{s.KeyID: k}
		one.Signed.Roles = map[string]*metadata.Role{f.Role: {KeyIDs: []string{s.KeyID}, Threshold: 1}}
		var err error
		switch {
		case f.root != nil:
			err = one.VerifyDelegate(f.Role, onlySig(f.root, s))
		case f.timestamp != nil:
			err = one.VerifyDelegate(f.Role, onlySig(f.timestamp, s))
		case f.snapshot != nil:
			err = one.VerifyDelegate(f.Role, onlySig(f.snapshot, s))
		default:
			err = one.VerifyDelegate(f.Role, onlySig(f.targets, s))
		}
		if err == nil {
			c.Valid = append(c.Valid, s.KeyID)
		} else {
			c.Bad = append(c.Bad, s.KeyID)
		}
	}
	return c, nil
}

func onlySig[T metadata.Roles](md *metadata.Metadata[T], s metadata.Signature) *metadata.Metadata[T] {
	return &metadata.Metadata[T]{Signed: md.Signed, Signatures: []metadata.Signature{s}}
}

func short(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}
