package tufmeta

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// The publisher signs and encodes a shard's snapshot and timestamp with
// every batch, and go-tuf's way (a map per entry, marshalled, then parsed
// again and re-encoded for the canonical form) was a fifth of a publish at
// 500,000 projects. For these two roles in the shape Hallmark writes them
// (no custom fields, names that need no escaping), the canonical form and
// the compact encoding are the same bytes, written here directly. So are
// they for a project's releases role (a targets role that delegates
// nothing), which every upload decodes twice (the proposal and the
// current one), verifies and encodes. Anything else takes go-tuf's path.
// TestFastEncodingMatchesGoTUF compares both forms with go-tuf's on random
// roles; FuzzDecodeMatchesGoTUF compares decoding.

// fastSigned appends the canonical JSON of a snapshot's or timestamp's
// signed part, or reports false when the role is not in the simple shape.
func fastSigned(buf []byte, signed any) ([]byte, bool) {
	return fastSignedInOrder(buf, signed, nil)
}

// inOrder reports whether names are exactly meta's names, in increasing
// order.
func inOrder(names []string, meta map[string]*metadata.MetaFiles) bool {
	if len(names) != len(meta) {
		return false
	}
	for i, n := range names {
		if _, ok := meta[n]; !ok || (i > 0 && names[i-1] >= n) {
			return false
		}
	}
	return true
}

// fastSignedInOrder is fastSigned with the meta names in order, when the
// caller has them (names nil, or not exactly the sorted names: sorted here).
func fastSignedInOrder(buf []byte, signed any, names []string) ([]byte, bool) {
	var typ, spec string
	var version int64
	var meta map[string]*metadata.MetaFiles
	var expires []byte
	var err error
	switch s := signed.(type) {
	case *metadata.SnapshotType:
		if len(s.UnrecognizedFields) != 0 {
			return nil, false
		}
		typ, spec, version, meta = s.Type, s.SpecVersion, s.Version, s.Meta
		expires, err = s.Expires.MarshalJSON()
	case *metadata.TimestampType:
		if len(s.UnrecognizedFields) != 0 {
			return nil, false
		}
		typ, spec, version, meta = s.Type, s.SpecVersion, s.Version, s.Meta
		expires, err = s.Expires.MarshalJSON()
	case *metadata.TargetsType:
		return fastTargetsSigned(buf, s)
	default:
		return nil, false
	}
	// A nil meta is written "null" by go-tuf; leave it to go-tuf.
	if err != nil || meta == nil || !plain(typ) || !plain(spec) || !plain(string(expires[1:len(expires)-1])) {
		return nil, false
	}
	if !inOrder(names, meta) {
		names = slices.Sorted(maps.Keys(meta))
	}
	if buf == nil {
		// One allocation, not a dozen as it grows: a snapshot of 2,500
		// entries is about 100 KB.
		n := 128
		for name, m := range meta {
			n += len(name) + 32
			if m != nil && len(m.Hashes) != 0 {
				n += 96
			}
		}
		buf = make([]byte, 0, n)
	}
	buf = append(buf, `{"_type":"`...)
	buf = append(buf, typ...)
	buf = append(buf, `","expires":`...)
	buf = append(buf, expires...)
	buf = append(buf, `,"meta":{`...)
	for i, name := range names {
		m := meta[name]
		if m == nil || len(m.UnrecognizedFields) != 0 || !plain(name) {
			return nil, false
		}
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, '"')
		buf = append(buf, name...)
		buf = append(buf, `":{`...)
		if len(m.Hashes) != 0 {
			var ok bool
			if buf, ok = appendHashes(append(buf, `"hashes":`...), m.Hashes); !ok {
				return nil, false
			}
			buf = append(buf, ',')
		}
		if m.Length != 0 {
			buf = append(buf, `"length":`...)
			buf = strconv.AppendInt(buf, m.Length, 10)
			buf = append(buf, ',')
		}
		buf = append(buf, `"version":`...)
		buf = strconv.AppendInt(buf, m.Version, 10)
		buf = append(buf, '}')
	}
	buf = append(buf, `},"spec_version":"`...)
	buf = append(buf, spec...)
	buf = append(buf, `","version":`...)
	buf = strconv.AppendInt(buf, version, 10)
	buf = append(buf, '}')
	return buf, true
}

// fastTargetsSigned appends the canonical JSON of a targets role's signed
// part when it delegates nothing and its targets carry no custom fields,
// or reports false.
func fastTargetsSigned(buf []byte, s *metadata.TargetsType) ([]byte, bool) {
	if s.Delegations != nil || len(s.UnrecognizedFields) != 0 || s.Targets == nil {
		return nil, false
	}
	expires, err := s.Expires.MarshalJSON()
	if err != nil || !plain(s.Type) || !plain(s.SpecVersion) || !plain(string(expires[1:len(expires)-1])) {
		return nil, false
	}
	buf = append(buf, `{"_type":"`...)
	buf = append(buf, s.Type...)
	buf = append(buf, `","expires":`...)
	buf = append(buf, expires...)
	buf = append(buf, `,"spec_version":"`...)
	buf = append(buf, s.SpecVersion...)
	buf = append(buf, `","targets":{`...)
	for i, name := range slices.Sorted(maps.Keys(s.Targets)) {
		tf := s.Targets[name]
		// go-tuf writes empty hashes as null and refuses to read them.
		if tf == nil || tf.Custom != nil || len(tf.UnrecognizedFields) != 0 || len(tf.Hashes) == 0 || !plain(name) {
			return nil, false
		}
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, '"')
		buf = append(buf, name...)
		var ok bool
		if buf, ok = appendHashes(append(buf, `":{"hashes":`...), tf.Hashes); !ok {
			return nil, false
		}
		buf = append(buf, `,"length":`...)
		buf = strconv.AppendInt(buf, tf.Length, 10)
		buf = append(buf, '}')
	}
	buf = append(buf, `},"version":`...)
	buf = strconv.AppendInt(buf, s.Version, 10)
	buf = append(buf, '}')
	return buf, true
}

// appendHashes appends a hashes object, its algorithms sorted, or reports
// false when an algorithm's name would need escaping.
func appendHashes(buf []byte, hashes metadata.Hashes) ([]byte, bool) {
	buf = append(buf, '{')
	for j, alg := range slices.Sorted(maps.Keys(hashes)) {
		if !plain(alg) {
			return nil, false
		}
		if j > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, '"')
		buf = append(buf, alg...)
		buf = append(buf, `":"`...)
		buf = hex.AppendEncode(buf, hashes[alg])
		buf = append(buf, '"')
	}
	return append(buf, '}'), true
}

// fastTargets mirrors an encoded releases role without go-tuf's decoding
// methods, which parse each object twice (once more into a map, for the
// fields they do not know).
type fastTargets struct {
	Signatures []struct {
		KeyID string            `json:"keyid"`
		Sig   metadata.HexBytes `json:"sig"`
	} `json:"signatures"`
	Signed struct {
		Type        string    `json:"_type"`
		Expires     time.Time `json:"expires"`
		SpecVersion string    `json:"spec_version"`
		Targets     map[string]*struct {
			Hashes metadata.Hashes `json:"hashes"`
			Length int64           `json:"length"`
		} `json:"targets"`
		Version int64 `json:"version"`
	} `json:"signed"`
}

// fastDecodeTargets decodes a targets role that is exactly the compact
// encoding this package writes for a role in fastTargetsSigned's shape
// (fastEncode), or reports false and leaves it to the full decoder. The
// check is the encoding itself: the decoded role must encode back to the
// same bytes, so a key in another case, a duplicate, an unknown field,
// white space or another spelling of a value all take the full path.
// What it returns is what go-tuf returns for the same bytes.
func fastDecodeTargets(b []byte) (*metadata.Metadata[metadata.TargetsType], bool) {
	// Bins and owners roles delegate: not worth a try.
	if bytes.Contains(b, []byte(`"delegations"`)) {
		return nil, false
	}
	var f fastTargets
	if json.Unmarshal(b, &f) != nil || f.Signed.Type != metadata.TARGETS || f.Signed.Targets == nil || f.Signatures == nil {
		return nil, false
	}
	md := &metadata.Metadata[metadata.TargetsType]{
		Signed: metadata.TargetsType{
			Type: f.Signed.Type, SpecVersion: f.Signed.SpecVersion, Version: f.Signed.Version,
			Expires:            f.Signed.Expires,
			Targets:            make(map[string]*metadata.TargetFiles, len(f.Signed.Targets)),
			UnrecognizedFields: map[string]any{},
		},
		Signatures:         make([]metadata.Signature, 0, len(f.Signatures)),
		UnrecognizedFields: map[string]any{},
	}
	for name, tf := range f.Signed.Targets {
		if tf == nil {
			return nil, false
		}
		md.Signed.Targets[name] = &metadata.TargetFiles{Length: tf.Length, Hashes: tf.Hashes, Path: name, UnrecognizedFields: map[string]any{}}
	}
	seen := make(map[string]bool, len(f.Signatures))
	for _, s := range f.Signatures {
		if seen[s.KeyID] {
			return nil, false // the full decoder says why it is refused
		}
		seen[s.KeyID] = true
		md.Signatures = append(md.Signatures, metadata.Signature{KeyID: s.KeyID, Signature: s.Sig, UnrecognizedFields: map[string]any{}})
	}
	if enc, ok := fastEncode(md); !ok || !bytes.Equal(enc, b) {
		return nil, false
	}
	return md, true
}

// fastEncode appends the compact encoding of a whole snapshot, timestamp
// or releases role, or reports false when it is not in the simple shape.
func fastEncode[T metadata.Roles](md *metadata.Metadata[T]) ([]byte, bool) {
	signed, ok := fastSigned(nil, any(&md.Signed))
	if !ok {
		return nil, false
	}
	return fastEnvelope(md, signed)
}

// fastEnvelope appends the compact encoding of a role in the simple shape
// whose signed part's canonical form (the same bytes as its compact
// encoding) is signed, or reports false when the envelope is not in the
// simple shape.
func fastEnvelope[T metadata.Roles](md *metadata.Metadata[T], signed []byte) ([]byte, bool) {
	if len(md.UnrecognizedFields) != 0 {
		return nil, false
	}
	buf := append(make([]byte, 0, len(signed)+64+160*len(md.Signatures)), `{"signatures":[`...)
	for i, s := range md.Signatures {
		if len(s.UnrecognizedFields) != 0 || !plain(s.KeyID) {
			return nil, false
		}
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, `{"keyid":"`...)
		buf = append(buf, s.KeyID...)
		buf = append(buf, `","sig":"`...)
		buf = hex.AppendEncode(buf, s.Signature)
		buf = append(buf, `"}`...)
	}
	buf = append(buf, `],"signed":`...)
	buf = append(buf, signed...)
	return append(buf, '}'), true
}

// plain reports whether a string is written the same by encoding/json and
// by canonical JSON, without escapes: printable ASCII but for the quote,
// the backslash and the characters encoding/json escapes for HTML.
func plain(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}
