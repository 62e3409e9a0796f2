// Package trust defines what a downloader pins when it first trusts a
// Hallmark repository, and how a shard's root is checked against the pin.
//
// A repository is S shards, each a standard TUF repository. The pin covers
// the root keys and threshold that every shard's root must be signed by, and
// the shard count. Each shard's root names its shard id and the shard count
// in signed fields; a root that names another shard, or another count, is
// refused, so one shard's metadata can never be served as another's.
package trust

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"hallmark.dev/hallmark/layout"
	"hallmark.dev/hallmark/tufmeta"
)

// ShardField is the signed field of every offline-signed role of a shard
// (root, targets, the claimed bin) that names the shard.
const ShardField = "x-hallmark-shard"

// Identity is the value of ShardField.
type Identity struct {
	Shard  string `json:"shard"`
	Shards int    `json:"shards"`
}

// SetIdentity writes the shard identity into a role's unrecognized fields.
func SetIdentity(fields *map[string]any, id Identity) {
	if *fields == nil {
		*fields = map[string]any{}
	}
	(*fields)[ShardField] = map[string]any{"shard": id.Shard, "shards": id.Shards}
}

// IdentityOf reads the shard identity from a role's unrecognized fields.
func IdentityOf(fields map[string]any) (Identity, error) {
	raw, ok := fields[ShardField]
	if !ok {
		return Identity{}, fmt.Errorf("no signed %s field", ShardField)
	}
	b, err := json.Marshal(raw)
	if err != nil {
		return Identity{}, err
	}
	var id Identity
	if err := json.Unmarshal(b, &id); err != nil {
		return Identity{}, fmt.Errorf("malformed %s field", ShardField)
	}
	return id, nil
}

// CheckIdentity returns an error unless the fields name exactly this shard of
// a repository of this many shards.
func CheckIdentity(role string, fields map[string]any, shard string, shards int) error {
	id, err := IdentityOf(fields)
	if err != nil {
		return fmt.Errorf("%s of shard %s: %w", role, shard, err)
	}
	if id.Shard != shard || id.Shards != shards {
		return fmt.Errorf("%s served as shard %s of %d says it belongs to shard %s of %d: metadata from another shard or repository", role, shard, shards, id.Shard, id.Shards)
	}
	return nil
}

// File is the repository's trust summary, served at <repo>/metadata/trust.json
// and pinned by clients. It is not signed: the user confirms its fingerprint.
type File struct {
	Shards        int                      `json:"shards"`
	RootKeys      map[string]*metadata.Key `json:"root_keys"`
	RootThreshold int                      `json:"root_threshold"`
	// RootVersion is the root version every shard had when the file was
	// written; clients start from it and follow root rotations with TUF.
	RootVersion int64 `json:"root_version"`
	// RootVersions, when present, gives the root version of shards whose
	// root version differs from RootVersion.
	RootVersions map[string]int64 `json:"root_versions,omitempty"`
}

// ShardRootVersion is the root version a client starts a shard from.
func (f *File) ShardRootVersion(shard string) int64 {
	if v, ok := f.RootVersions[shard]; ok {
		return v
	}
	return f.RootVersion
}

// Parse decodes and checks a trust file.
func Parse(b []byte) (*File, error) {
	var f File
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("trust file is not valid JSON: %w", err)
	}
	if err := layout.CheckShardCount(f.Shards); err != nil {
		return nil, fmt.Errorf("trust file: %w", err)
	}
	if len(f.RootKeys) == 0 || f.RootThreshold < 1 || f.RootThreshold > len(f.RootKeys) {
		return nil, errors.New("trust file: root keys and threshold are inconsistent")
	}
	for id, k := range f.RootKeys {
		if got, err := k.ID(); err != nil || got != id {
			return nil, fmt.Errorf("trust file: key %s has another key id", id)
		}
	}
	if f.RootVersion < 1 {
		return nil, errors.New("trust file: root version must be at least 1")
	}
	return &f, nil
}

// Fingerprint identifies everything a client pins: the shard count, the
// root threshold, the root key ids and the root version each shard starts
// from. It changes when the admins change any root (a key rotation, new
// witnesses), so that a trust file naming an older root — whose online
// keys may have been rotated away for a reason — never passes for the
// current one.
func (f *File) Fingerprint() string {
	ids := make([]string, 0, len(f.RootKeys))
	for id := range f.RootKeys {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	shards := make([]string, 0, len(f.RootVersions))
	for s, v := range f.RootVersions {
		if v != f.RootVersion {
			shards = append(shards, s+"="+strconv.FormatInt(v, 10))
		}
	}
	slices.Sort(shards)
	h := sha256.New()
	h.Write([]byte("hallmark-trust-v2\n" + strconv.Itoa(f.Shards) + "\n" + strconv.Itoa(f.RootThreshold) + "\n" + strings.Join(ids, "\n") +
		"\nroot " + strconv.FormatInt(f.RootVersion, 10) + "\n" + strings.Join(shards, "\n")))
	return hex.EncodeToString(h.Sum(nil))
}

// Delegation returns the pinned root keys as a delegation.
func (f *File) Delegation() tufmeta.Delegation {
	d := tufmeta.Delegation{Keys: map[string]*metadata.Key{}, Threshold: f.RootThreshold}
	for id, k := range f.RootKeys {
		d.Keys[id] = k
		d.KeyIDs = append(d.KeyIDs, id)
	}
	slices.Sort(d.KeyIDs)
	return d
}

// CheckShardRoot verifies a shard's root against the pin: signed by a
// threshold of the pinned root keys, at least the pinned version, and
// naming this shard and the pinned shard count. It returns the root bytes'
// parsed form for use as the shard's trusted root.
func (f *File) CheckShardRoot(shard string, b []byte) (*tufmeta.Root, error) {
	root, err := tufmeta.Decode[metadata.RootType](b)
	if err != nil {
		return nil, fmt.Errorf("root of shard %s: %w", shard, err)
	}
	if err := tufmeta.Verify(root, f.Delegation(), "root of shard "+shard); err != nil {
		return nil, fmt.Errorf("%w: it is not signed by the pinned root keys", err)
	}
	if root.Signed.Version < f.ShardRootVersion(shard) {
		return nil, fmt.Errorf("root of shard %s is version %d, older than the pinned version %d", shard, root.Signed.Version, f.ShardRootVersion(shard))
	}
	if err := CheckIdentity("root", root.Signed.UnrecognizedFields, shard, f.Shards); err != nil {
		return nil, err
	}
	return root, nil
}
