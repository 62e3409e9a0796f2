package validation_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"hallmark.dev/hallmark/layout"
	"hallmark.dev/hallmark/signing"
	"hallmark.dev/hallmark/tufmeta"
	"hallmark.dev/hallmark/validation"
)

// The cast: alice owns "demo"; alice and bob maintain it; carol is a
// stranger with a key of her own.
var (
	alice = signing.FromSeed(bytes.Repeat([]byte{1}, 32), "alice")
	bob   = signing.FromSeed(bytes.Repeat([]byte{2}, 32), "bob")
	carol = signing.FromSeed(bytes.Repeat([]byte{3}, 32), "carol")
)

const project = "demo"

var now = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

func env() validation.Env { return validation.Env{Policy: layout.DefaultPolicy(), Now: now} }

func pubs(keys ...*signing.Key) []signing.PublicKey {
	var out []signing.PublicKey
	for _, k := range keys {
		out = append(out, k.Public())
	}
	return out
}

// ownersRole builds an owners role delegating the releases role to the
// maintainers with the threshold, the way the maintainer tool does.
func ownersRole(version int64, threshold int, maintainers ...*signing.Key) *tufmeta.Targets {
	md := metadata.Targets(layout.DefaultPolicy().ExpiresAt(project, now))
	md.Signed.Version = version
	d := tufmeta.NewDelegation(pubs(maintainers...), threshold)
	md.Signed.Delegations = &metadata.Delegations{Keys: d.Keys, Roles: []metadata.DelegatedRole{{
		Name: layout.ReleasesRole(project), KeyIDs: d.KeyIDs, Threshold: threshold,
		Terminating: true, Paths: layout.DelegationPaths(project),
	}}}
	return md
}

// file is one release file.
type file struct{ version, name, content string }

func (f file) path() string { return layout.FilePath(project, f.version, f.name) }

func (f file) sha() string {
	s := sha256.Sum256([]byte(f.content))
	return hex.EncodeToString(s[:])
}

func targetFile(content []byte) *metadata.TargetFiles {
	s := sha256.Sum256(content)
	return &metadata.TargetFiles{Length: int64(len(content)), Hashes: metadata.Hashes{"sha256": s[:]}}
}

// releases builds a releases role listing the files and the index that
// agrees with them, and returns the role with the index bytes.
func releases(t *testing.T, version int64, files ...file) (*tufmeta.Targets, []byte) {
	t.Helper()
	md := metadata.Targets(layout.DefaultPolicy().ExpiresAt(layout.ReleasesRole(project), now))
	md.Signed.Version = version
	ix := &layout.Index{Project: project}
	for _, f := range files {
		r, ok := ix.Release(f.version)
		if !ok {
			ix.Releases = append(ix.Releases, layout.Release{Version: f.version})
			r = &ix.Releases[len(ix.Releases)-1]
		}
		r.Files = append(r.Files, layout.FileEntry{Name: f.name, SHA256: f.sha(), Length: int64(len(f.content))})
		md.Signed.Targets[f.path()] = targetFile([]byte(f.content))
	}
	b, err := ix.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	md.Signed.Targets[layout.IndexPath(project)] = targetFile(b)
	return md, b
}

func sign(t *testing.T, md *tufmeta.Targets, keys ...*signing.Key) *tufmeta.Targets {
	t.Helper()
	md.Signatures = nil
	if err := tufmeta.Sign(md, keys...); err != nil {
		t.Fatal(err)
	}
	return md
}

var (
	src100  = file{"1.0.0", "demo-1.0.0.tar.gz", "source of 1.0.0"}
	whl100  = file{"1.0.0", "demo-1.0.0-py3-none-any.whl", "wheel of 1.0.0"}
	src090  = file{"0.9.0", "demo-0.9.0.tar.gz", "source of 0.9.0, removed since"}
	src110  = file{"1.1.0", "demo-1.1.0.tar.gz", "source of 1.1.0"}
	rc200   = file{"2.0.0-rc.1", "demo-2.0.0rc1.tar.gz", "source of 2.0.0-rc.1"}
	ownerBy = []*signing.Key{alice}
)

// published is the verified state of demo: owners role version 1 (owner
// alice; maintainers alice and bob with the threshold), releases role
// version 4 with release 1.0.0, and 0.9.0 published once and removed since.
func published(t *testing.T, threshold int) *validation.Project {
	t.Helper()
	rel, _ := releases(t, 4, src100, whl100)
	return &validation.Project{
		Name:         project,
		Owners:       tufmeta.NewDelegation(pubs(ownerBy...), 1),
		OwnersRole:   sign(t, ownersRole(1, threshold, alice, bob), alice),
		ReleasesRole: sign(t, rel, alice),
		Tombstones: map[string]string{
			src100.path(): src100.sha(),
			whl100.path(): whl100.sha(),
			src090.path(): src090.sha(),
		},
	}
}
