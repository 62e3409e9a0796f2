package tufview

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// MaxFileSize bounds one metadata file the viewer reads. It is far above
// what TUF clients accept by default (5 MB for targets), so that oversized
// files can still be looked at.
const MaxFileSize = 64 << 20

// The four kinds of TUF metadata.
const (
	TypeRoot      = metadata.ROOT
	TypeTimestamp = metadata.TIMESTAMP
	TypeSnapshot  = metadata.SNAPSHOT
	TypeTargets   = metadata.TARGETS
)

// File is one metadata file of a role, parsed but not verified.
type File struct {
	// Role is the role name ("root", "targets", "django.releases").
	Role string
	// Name is the file name it was read from ("3.targets.json").
	Name string
	// Raw is the file as read.
	Raw []byte
	// Type is the metadata type the file declares.
	Type string

	root      *metadata.Metadata[metadata.RootType]
	timestamp *metadata.Metadata[metadata.TimestampType]
	snapshot  *metadata.Metadata[metadata.SnapshotType]
	targets   *metadata.Metadata[metadata.TargetsType]
}

// Parse parses a metadata file of any of the four types. The result is
// unverified.
func Parse(role, name string, raw []byte) (*File, error) {
	if len(raw) > MaxFileSize {
		return nil, fmt.Errorf("%s is %d bytes; the viewer reads at most %d", name, len(raw), MaxFileSize)
	}
	var env struct {
		Signed struct {
			Type string `json:"_type"`
		} `json:"signed"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		return nil, fmt.Errorf("%s is not valid JSON metadata: %w", name, err)
	}
	f := &File{Role: role, Name: name, Raw: raw, Type: env.Signed.Type}
	var err error
	switch f.Type {
	case TypeRoot:
		f.root, err = new(metadata.Metadata[metadata.RootType]).FromBytes(raw)
	case TypeTimestamp:
		f.timestamp, err = new(metadata.Metadata[metadata.TimestampType]).FromBytes(raw)
	case TypeSnapshot:
		f.snapshot, err = new(metadata.Metadata[metadata.SnapshotType]).FromBytes(raw)
	case TypeTargets:
		f.targets, err = new(metadata.Metadata[metadata.TargetsType]).FromBytes(raw)
	case "":
		return nil, fmt.Errorf("%s has no signed._type: it is not TUF metadata", name)
	default:
		return nil, fmt.Errorf("%s has unknown type %q", name, f.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("%s is malformed %s metadata: %w", name, f.Type, err)
	}
	return f, nil
}

// Version is the role's version.
func (f *File) Version() int64 {
	switch {
	case f.root != nil:
		return f.root.Signed.Version
	case f.timestamp != nil:
		return f.timestamp.Signed.Version
	case f.snapshot != nil:
		return f.snapshot.Signed.Version
	case f.targets != nil:
		return f.targets.Signed.Version
	}
	return 0
}

// Expires is the role's expiry.
func (f *File) Expires() time.Time {
	switch {
	case f.root != nil:
		return f.root.Signed.Expires
	case f.timestamp != nil:
		return f.timestamp.Signed.Expires
	case f.snapshot != nil:
		return f.snapshot.Signed.Expires
	case f.targets != nil:
		return f.targets.Signed.Expires
	}
	return time.Time{}
}

func (f *File) specVersion() string {
	switch {
	case f.root != nil:
		return f.root.Signed.SpecVersion
	case f.timestamp != nil:
		return f.timestamp.Signed.SpecVersion
	case f.snapshot != nil:
		return f.snapshot.Signed.SpecVersion
	case f.targets != nil:
		return f.targets.Signed.SpecVersion
	}
	return ""
}

func (f *File) signatures() []metadata.Signature {
	switch {
	case f.root != nil:
		return f.root.Signatures
	case f.timestamp != nil:
		return f.timestamp.Signatures
	case f.snapshot != nil:
		return f.snapshot.Signatures
	case f.targets != nil:
		return f.targets.Signatures
	}
	return nil
}

func (f *File) unrecognized() map[string]any {
	switch {
	case f.root != nil:
		return f.root.Signed.UnrecognizedFields
	case f.timestamp != nil:
		return f.timestamp.Signed.UnrecognizedFields
	case f.snapshot != nil:
		return f.snapshot.Signed.UnrecognizedFields
	case f.targets != nil:
		return f.targets.Signed.UnrecognizedFields
	}
	return nil
}

// SHA256 is the hex sha256 of the file's bytes.
func (f *File) SHA256() string {
	s := sha256.Sum256(f.Raw)
	return hex.EncodeToString(s[:])
}

// ConsistentSnapshot reports whether a root file says the repository uses
// consistent snapshots (versioned file names).
func (f *File) ConsistentSnapshot() bool { return f.root != nil && f.root.Signed.ConsistentSnapshot }

// Delegation is what a delegating role (root or targets) says about one
// role it delegates.
type Delegation struct {
	Role             string
	KeyIDs           []string
	Threshold        int
	Terminating      bool
	Paths            []string
	PathHashPrefixes []string
	// Succinct is set for the roles of a succinct (hash-bin) delegation.
	Succinct bool
}

// Delegations lists the roles the file delegates, in its order: the four
// top-level roles of a root, the delegated roles of a targets role. A
// succinct delegation is listed as the bins it names that exist, as told by
// has; with has nil it is not expanded.
func (f *File) Delegations(has func(role string) bool) []Delegation {
	var out []Delegation
	switch {
	case f.root != nil:
		for _, name := range metadata.TOP_LEVEL_ROLE_NAMES {
			if r, ok := f.root.Signed.Roles[name]; ok {
				out = append(out, Delegation{Role: name, KeyIDs: r.KeyIDs, Threshold: r.Threshold})
			}
		}
	case f.targets != nil && f.targets.Signed.Delegations != nil:
		d := f.targets.Signed.Delegations
		for _, r := range d.Roles {
			out = append(out, Delegation{Role: r.Name, KeyIDs: r.KeyIDs, Threshold: r.Threshold,
				Terminating: r.Terminating, Paths: r.Paths, PathHashPrefixes: r.PathHashPrefixes})
		}
		if s := d.SuccinctRoles; s != nil && has != nil && s.BitLength >= 1 && s.BitLength <= 32 {
			_, bins := s.GetSuffixLen()
			if bins <= 1<<16 {
				for _, name := range s.GetRoles() {
					if has(name) {
						out = append(out, Delegation{Role: name, KeyIDs: s.KeyIDs, Threshold: s.Threshold, Terminating: true, Succinct: true})
					}
				}
			}
		}
	}
	return out
}

// keys returns the key a delegating file names under id.
func (f *File) key(id string) (*metadata.Key, bool) {
	switch {
	case f.root != nil:
		k, ok := f.root.Signed.Keys[id]
		return k, ok && k != nil
	case f.targets != nil && f.targets.Signed.Delegations != nil:
		k, ok := f.targets.Signed.Delegations.Keys[id]
		return k, ok && k != nil
	}
	return nil, false
}

// delegationFor finds the delegation of role in f.
func (f *File) delegationFor(role string) (Delegation, bool) {
	switch {
	case f.root != nil:
		if r, ok := f.root.Signed.Roles[role]; ok && r != nil {
			return Delegation{Role: role, KeyIDs: r.KeyIDs, Threshold: r.Threshold}, true
		}
	case f.targets != nil && f.targets.Signed.Delegations != nil:
		d := f.targets.Signed.Delegations
		for _, r := range d.Roles {
			if r.Name == role {
				return Delegation{Role: role, KeyIDs: r.KeyIDs, Threshold: r.Threshold, Terminating: r.Terminating,
					Paths: r.Paths, PathHashPrefixes: r.PathHashPrefixes}, true
			}
		}
		if s := d.SuccinctRoles; s != nil && s.BitLength >= 1 && s.BitLength <= 32 && s.IsDelegatedRole(role) {
			return Delegation{Role: role, KeyIDs: s.KeyIDs, Threshold: s.Threshold, Terminating: true, Succinct: true}, true
		}
	}
	return Delegation{}, false
}

// pretty indents JSON for display; it returns the input if it is not JSON.
func pretty(v any) string {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// prettyRaw indents raw JSON bytes.
func prettyRaw(raw []byte) string {
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		return string(raw)
	}
	return buf.String()
}

var errNoDelegation = errors.New("does not delegate this role")
