package layout

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// MaxIndexSize bounds a project index, in bytes.
const MaxIndexSize = 4 << 20

// Index is a project's index: every release with its files and yanked flag.
// It is a target ("<project>/index.json") signed by the releases role, so a
// downloader trusts it as much as the files it lists.
type Index struct {
	Project  string    `json:"project"`
	Releases []Release `json:"releases"`
	// Meta is what the project says about itself; nil when nothing.
	Meta *ProjectMeta `json:"meta,omitempty"`
}

// Release is one version of a project in its index.
type Release struct {
	Version      string      `json:"version"`
	Files        []FileEntry `json:"files"`
	Yanked       bool        `json:"yanked,omitempty"`
	YankedReason string      `json:"yanked_reason,omitempty"`
	// Uploaded is when the maintainer's tool signed the release
	// (UploadTime's form); empty in indexes written before it was kept.
	Uploaded string `json:"uploaded,omitempty"`
}

// FileEntry is one file of a release. Its hash and length must equal the
// target entry of the same path in the releases role.
type FileEntry struct {
	Name   string `json:"name"`
	SHA256 string `json:"sha256"`
	Length int64  `json:"length"`
}

// ParseIndex parses an index strictly: no unknown fields, no trailing data,
// valid names and versions, no duplicates.
func ParseIndex(b []byte) (*Index, error) {
	if len(b) > MaxIndexSize {
		return nil, fmt.Errorf("project index is %d bytes; the limit is %d", len(b), MaxIndexSize)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var ix Index
	if err := dec.Decode(&ix); err != nil {
		return nil, fmt.Errorf("project index is not valid JSON: %w", err)
	}
	if dec.More() {
		return nil, errors.New("project index has trailing data")
	}
	// Only the canonical encoding is accepted, so every reader sees the same
	// index (no duplicate keys, no case-folded field names, no trailing bytes).
	if canon, err := ix.Marshal(); err != nil || !bytes.Equal(canon, b) {
		return nil, errors.New("project index is not in canonical form (compact JSON, releases newest first, files by name, no unknown or duplicate fields)")
	}
	if !IsNormalizedProject(ix.Project) {
		return nil, fmt.Errorf("project index names %q, which is not a normalized project name", ix.Project)
	}
	seen := map[string]bool{}
	for _, r := range ix.Releases {
		if _, err := ParseVersion(r.Version); err != nil {
			return nil, fmt.Errorf("project index: %w", err)
		}
		if seen[r.Version] {
			return nil, fmt.Errorf("project index lists version %s twice", r.Version)
		}
		seen[r.Version] = true
		names := map[string]bool{}
		for _, f := range r.Files {
			if err := CheckFilename(f.Name); err != nil {
				return nil, fmt.Errorf("project index, version %s: %w", r.Version, err)
			}
			if names[f.Name] {
				return nil, fmt.Errorf("project index, version %s lists %s twice", r.Version, f.Name)
			}
			names[f.Name] = true
			if len(f.SHA256) != 64 || strings.Trim(f.SHA256, "0123456789abcdef") != "" {
				return nil, fmt.Errorf("project index, version %s, file %s: sha256 must be 64 lower-case hex digits", r.Version, f.Name)
			}
			if f.Length < 0 {
				return nil, fmt.Errorf("project index, version %s, file %s: negative length", r.Version, f.Name)
			}
		}
		if !r.Yanked && r.YankedReason != "" {
			return nil, fmt.Errorf("project index, version %s: a yank reason without a yank", r.Version)
		}
		if r.Uploaded != "" {
			if err := checkUploadTime(r.Uploaded); err != nil {
				return nil, fmt.Errorf("project index, version %s: %w", r.Version, err)
			}
		}
	}
	if ix.Meta != nil {
		if err := ix.Meta.Check(); err != nil {
			return nil, fmt.Errorf("project index: %w", err)
		}
	}
	return &ix, nil
}

// Marshal encodes the index in its canonical form: releases newest first,
// files by name, compact JSON.
func (ix *Index) Marshal() ([]byte, error) {
	c := Index{Project: ix.Project, Releases: slices.Clone(ix.Releases), Meta: ix.Meta}
	if c.Meta != nil && c.Meta.IsZero() {
		c.Meta = nil
	}
	if c.Releases == nil {
		c.Releases = []Release{}
	}
	slices.SortStableFunc(c.Releases, func(a, b Release) int {
		va, _ := ParseVersion(a.Version)
		vb, _ := ParseVersion(b.Version)
		return vb.Compare(va)
	})
	for i := range c.Releases {
		files := slices.Clone(c.Releases[i].Files)
		if files == nil {
			files = []FileEntry{}
		}
		slices.SortFunc(files, func(a, b FileEntry) int { return strings.Compare(a.Name, b.Name) })
		c.Releases[i].Files = files
	}
	return json.Marshal(c)
}

// Release returns the release with exactly this version.
func (ix *Index) Release(version string) (*Release, bool) {
	for i := range ix.Releases {
		if ix.Releases[i].Version == version {
			return &ix.Releases[i], true
		}
	}
	return nil, false
}

// SameRelease returns the release whose version names the same release as
// version: equal, or differing only in build metadata (SemVer gives them
// equal precedence, so a repository holds only one of them).
func (ix *Index) SameRelease(version string) (*Release, bool) {
	v, err := ParseVersion(version)
	if err != nil {
		return nil, false
	}
	for i := range ix.Releases {
		if w, err := ParseVersion(ix.Releases[i].Version); err == nil && v.SameRelease(w) {
			return &ix.Releases[i], true
		}
	}
	return nil, false
}

// CheckDistinctReleases returns an error if two releases of the index
// differ only in build metadata: SemVer gives them equal precedence, so
// "latest" and an exact pin could not tell them apart. A new index must
// pass it; ParseIndex does not require it, so indexes published before the
// rule stay readable (and their owners can remove one of the two).
func (ix *Index) CheckDistinctReleases() error {
	for i, r := range ix.Releases {
		v, err := ParseVersion(r.Version)
		if err != nil {
			return err
		}
		for _, o := range ix.Releases[i+1:] {
			if w, err := ParseVersion(o.Version); err == nil && v.SameRelease(w) {
				return fmt.Errorf("versions %s and %s differ only in build metadata, so they are the same release (SemVer); publish a new version instead", o.Version, r.Version)
			}
		}
	}
	return nil
}

// Versions returns every version, newest first.
func (ix *Index) Versions() []string {
	vs := make([]string, len(ix.Releases))
	for i, r := range ix.Releases {
		vs[i] = r.Version
	}
	SortVersionsDesc(vs)
	return vs
}

// ErrNoLatest is returned by Latest when no release qualifies.
var ErrNoLatest = errors.New("no release qualifies as latest")

// Latest returns the release a downloader gets when it names no version: the
// highest version that is neither a pre-release nor yanked (PEP 592).
func (ix *Index) Latest() (*Release, error) {
	var best *Release
	var bestV Version
	for i := range ix.Releases {
		r := &ix.Releases[i]
		v, err := ParseVersion(r.Version)
		if err != nil || v.IsPrerelease() || r.Yanked {
			continue
		}
		if best == nil || v.Compare(bestV) > 0 {
			best, bestV = r, v
		}
	}
	if best == nil {
		return nil, ErrNoLatest
	}
	return best, nil
}
