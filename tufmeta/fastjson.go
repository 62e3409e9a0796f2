package tufmeta

import (
	"encoding/hex"
	"maps"
	"slices"
	"strconv"

	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// The publisher signs and encodes a shard's snapshot and timestamp with
// every batch, and go-tuf's way (a map per entry, marshalled, then parsed
// again and re-encoded for the canonical form) was a fifth of a publish at
// 500,000 projects. For these two roles in the shape Hallmark writes them
// (no custom fields, names that need no escaping), the canonical form and
// the compact encoding are the same bytes, written here directly. Anything
// else takes go-tuf's path. TestFastEncodingMatchesGoTUF compares both
// forms with go-tuf's on random roles.

// fastSigned appends the canonical JSON of a snapshot's or timestamp's
// signed part, or reports false when the role is not in the simple shape.
func fastSigned(buf []byte, signed any) ([]byte, bool) {
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
	default:
		return nil, false
	}
	// A nil meta is written "null" by go-tuf; leave it to go-tuf.
	if err != nil || meta == nil || !plain(typ) || !plain(spec) || !plain(string(expires[1:len(expires)-1])) {
		return nil, false
	}
	buf = append(buf, `{"_type":"`...)
	buf = append(buf, typ...)
	buf = append(buf, `","expires":`...)
	buf = append(buf, expires...)
	buf = append(buf, `,"meta":{`...)
	for i, name := range slices.Sorted(maps.Keys(meta)) {
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
			buf = append(buf, `"hashes":{`...)
			for j, alg := range slices.Sorted(maps.Keys(m.Hashes)) {
				if !plain(alg) {
					return nil, false
				}
				if j > 0 {
					buf = append(buf, ',')
				}
				buf = append(buf, '"')
				buf = append(buf, alg...)
				buf = append(buf, `":"`...)
				buf = hex.AppendEncode(buf, m.Hashes[alg])
				buf = append(buf, '"')
			}
			buf = append(buf, "},"...)
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

// fastEncode appends the compact encoding of a whole snapshot or
// timestamp, or reports false when it is not in the simple shape.
func fastEncode[T metadata.Roles](md *metadata.Metadata[T]) ([]byte, bool) {
	signed, ok := fastSigned(nil, any(&md.Signed))
	if !ok {
		return nil, false
	}
	return fastEnvelope(md, signed)
}

// fastEnvelope appends the compact encoding of a snapshot or timestamp
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
