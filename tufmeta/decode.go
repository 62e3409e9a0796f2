package tufmeta

import (
	"bytes"
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
	if _, ok := any((*T)(nil)).(*metadata.TargetsType); ok {
		if md, ok := fastDecodeTargets(b); ok {
			return any(md).(*metadata.Metadata[T]), nil
		}
	}
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

// LookupDelegation returns what TargetsDelegation returns for one role of
// an encoded targets role, without decoding the rest of it: a publish of a
// release needs its project's delegation from a bin of hundreds, whose full
// decoding cost grew with the shard. The delegated role and the keys it
// names are decoded by go-tuf's own methods; the rest of the document is
// only checked to be JSON. Like Decode's, its result is unverified: use it
// on metadata the caller trusts as stored (the publisher's own bins).
// TestLookupDelegationMatchesDecode checks it against Decode and
// TargetsDelegation.
func LookupDelegation(data []byte, role string) (Delegation, *metadata.DelegatedRole, error) {
	if len(data) > MaxRoleSize {
		return Delegation{}, nil, fmt.Errorf("metadata is %d bytes; the limit is %d", len(data), MaxRoleSize)
	}
	// Each level is split as go-tuf reads it: a repeated key's last value
	// counts whole, and the keys map of delegations merges.
	var env, signed map[string]json.RawMessage
	if err := json.Unmarshal(data, &env); err != nil {
		return Delegation{}, nil, fmt.Errorf("metadata is malformed: %w", err)
	}
	if err := json.Unmarshal(env["signed"], &signed); err != nil || signed == nil {
		return Delegation{}, nil, errors.New("metadata is malformed: the 'signed' field is missing or not an object")
	}
	var typ string
	if err := json.Unmarshal(signed["_type"], &typ); err != nil || typ != metadata.TARGETS {
		return Delegation{}, nil, fmt.Errorf("metadata is malformed: expected metadata type %s, got - %s", metadata.TARGETS, typ)
	}
	raw, ok := signed["delegations"]
	if !ok || string(raw) == "null" {
		return Delegation{}, nil, fmt.Errorf("no delegation found for %s", role)
	}
	var dels struct {
		Keys  map[string]json.RawMessage `json:"keys"`
		Roles []json.RawMessage          `json:"roles"`
	}
	if err := json.Unmarshal(raw, &dels); err != nil {
		return Delegation{}, nil, fmt.Errorf("metadata is malformed: %w", err)
	}
	for _, raw := range dels.Roles {
		// Most entries are other roles: skip those whose bytes cannot
		// name it (without an escape, the name appears as written).
		if !bytes.Contains(raw, []byte(role)) && bytes.IndexByte(raw, '\\') < 0 {
			continue
		}
		var named struct {
			Name string `json:"name"`
		}
		if err := json.Unmarshal(raw, &named); err != nil {
			return Delegation{}, nil, fmt.Errorf("metadata is malformed: %w", err)
		}
		if named.Name != role {
			continue
		}
		r := &metadata.DelegatedRole{}
		if err := json.Unmarshal(raw, r); err != nil {
			return Delegation{}, nil, fmt.Errorf("metadata is malformed: %w", err)
		}
		keys := map[string]*metadata.Key{}
		for _, id := range r.KeyIDs {
			rawKey, ok := dels.Keys[id]
			if !ok {
				continue // pick reports it
			}
			k := &metadata.Key{}
			if err := json.Unmarshal(rawKey, k); err != nil {
				return Delegation{}, nil, fmt.Errorf("metadata is malformed: %w", err)
			}
			keys[id] = k
		}
		d, err := pick(keys, r.KeyIDs, r.Threshold, role)
		return d, r, err
	}
	return Delegation{}, nil, fmt.Errorf("no delegation found for %s", role)
}
