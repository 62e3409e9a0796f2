package tufmeta

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// decode parses a metadata envelope into go-tuf's types. It gives the same
// result as go-tuf's FromBytes, which parses the whole document four times
// over (a check of _type, a map of the envelope, the envelope again, then
// the signed part): decoding was the largest cost of a publish. Here the
// envelope and the signed part's top level are split once, and the signed
// part and the signatures are decoded by go-tuf's own UnmarshalJSON
// methods. Where the two could differ (keys that match a field only when
// case is ignored, which encoding/json accepts), decode refuses. The fuzz
// test FuzzDecodeMatchesGoTUF checks that whatever decode accepts, FromBytes
// accepts too, with an identical result.
func decode[T metadata.Roles](b []byte) (*metadata.Metadata[T], error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(b, &top); err != nil {
		return nil, err // also refuses data after the object
	}
	if top == nil {
		return nil, errors.New("metadata is not a JSON object")
	}
	for k := range top {
		if k != "signed" && k != "signatures" && (strings.EqualFold(k, "signed") || strings.EqualFold(k, "signatures")) {
			return nil, fmt.Errorf("metadata has a field %q", k)
		}
	}
	signed, ok := top["signed"]
	if !ok {
		return nil, errors.New("metadata 'signed' field is missing or not an object")
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(signed, &fields); err != nil || fields == nil {
		return nil, errors.New("metadata 'signed' field is missing or not an object")
	}
	var typ string
	if raw, ok := fields["_type"]; !ok || json.Unmarshal(raw, &typ) != nil {
		return nil, errors.New("no _type found in signed")
	}
	md := &metadata.Metadata[T]{}
	want, got := roleType(&md.Signed)
	if typ != want {
		return nil, fmt.Errorf("expected metadata type %s, got - %s", want, typ)
	}
	if err := any(&md.Signed).(json.Unmarshaler).UnmarshalJSON(signed); err != nil {
		return nil, err
	}
	if *got != want {
		// Another key that matches _type when case is ignored.
		return nil, fmt.Errorf("expected metadata type %s, got - %s", want, *got)
	}
	if raw, ok := top["signatures"]; ok {
		if err := json.Unmarshal(raw, &md.Signatures); err != nil {
			return nil, err
		}
	}
	seen := map[string]bool{}
	for _, s := range md.Signatures {
		if seen[s.KeyID] {
			return nil, fmt.Errorf("multiple signatures found for key ID %s", s.KeyID)
		}
		seen[s.KeyID] = true
	}
	md.UnrecognizedFields = map[string]any{}
	for k, raw := range top {
		if k == "signed" || k == "signatures" {
			continue
		}
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, err
		}
		md.UnrecognizedFields[k] = v
	}
	return md, nil
}

// roleType returns the _type a role's signed part must have, and where its
// decoded _type is.
func roleType[T metadata.Roles](signed *T) (string, *string) {
	switch s := any(signed).(type) {
	case *metadata.RootType:
		return metadata.ROOT, &s.Type
	case *metadata.SnapshotType:
		return metadata.SNAPSHOT, &s.Type
	case *metadata.TimestampType:
		return metadata.TIMESTAMP, &s.Type
	case *metadata.TargetsType:
		return metadata.TARGETS, &s.Type
	}
	panic("unknown role type") // metadata.Roles has only these four
}
