package validation

import (
	"encoding/hex"
	"fmt"
	"sort"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"hallmark.dev/hallmark/layout"
	"hallmark.dev/hallmark/tufmeta"
)

// CheckReleases decides on a proposed releases role. index is the content of
// the "<project>/index.json" target the proposal lists (its hash is checked
// here too). Nothing is trusted from the proposal but what the current,
// published owners role says about who may sign it.
func CheckReleases(p *Project, proposed *tufmeta.Targets, index []byte, env Env) Decision {
	role := layout.ReleasesRole(p.Name)
	if p.OwnersRole == nil {
		return reject("project %s has no owners role yet", p.Name)
	}
	if d := checkCommon(role, proposed, p.ReleasesRole, env); d != nil {
		return *d
	}
	if proposed.Signed.Delegations != nil {
		return reject("%s: the releases role may not delegate", role)
	}
	if err := CheckTargets(p, proposed); err != nil {
		return reject("%s: %v", role, err)
	}
	ix, err := checkIndex(p.Name, proposed, index)
	if err != nil {
		return reject("%s: %v", role, err)
	}
	del, _, err := tufmeta.TargetsDelegation(p.OwnersRole, role)
	if err != nil {
		return reject("%s: %v", role, err)
	}
	d := signatures(role, proposed, del, "project's maintainers")
	d.Index = ix
	return d
}

// CheckTargets checks every target of a proposed releases role: inside the
// project's namespace, sha256 only, and immutable — a path published before
// (even if removed since) keeps its content.
func CheckTargets(p *Project, proposed *tufmeta.Targets) error {
	if _, ok := proposed.Signed.Targets[layout.IndexPath(p.Name)]; !ok {
		return fmt.Errorf("lists no project index %s", layout.IndexPath(p.Name))
	}
	paths := make([]string, 0, len(proposed.Signed.Targets))
	for path := range proposed.Signed.Targets {
		paths = append(paths, path)
	}
	sort.Strings(paths)
	for _, path := range paths {
		tf := proposed.Signed.Targets[path]
		tp, err := layout.ParseTargetPath(path)
		if err != nil {
			return err
		}
		if tp.Project != p.Name {
			return fmt.Errorf("target %s lies outside project %s; every path must start with %s/", path, p.Name, p.Name)
		}
		sum, err := SHA256Of(tf.Hashes)
		if err != nil {
			return fmt.Errorf("target %s: %w", path, err)
		}
		if tf.Length < 0 {
			return fmt.Errorf("target %s has a negative length", path)
		}
		if tp.IsIndex() {
			continue // the index changes with every release
		}
		if old, ok := p.Tombstones[path]; ok && old != sum {
			return fmt.Errorf("file %s was published before with other content (sha256 %s…); a file name is never re-used — publish a new version instead", path, old[:12])
		}
		if p.ReleasesRole != nil {
			if cur, ok := p.ReleasesRole.Signed.Targets[path]; ok && (cur.Length != tf.Length || !cur.Hashes.Equal(tf.Hashes)) {
				return fmt.Errorf("file %s is published with other content; published files never change — publish a new version instead", path)
			}
		}
	}
	return nil
}

// SHA256Of returns the one hash Hallmark records: sha256, as lower-case hex.
func SHA256Of(h metadata.Hashes) (string, error) {
	if len(h) != 1 {
		return "", fmt.Errorf("must record exactly one hash, sha256")
	}
	v, ok := h["sha256"]
	if !ok || len(v) != 32 {
		return "", fmt.Errorf("must record a 32-byte sha256 hash")
	}
	return hex.EncodeToString(v), nil
}

// checkIndex checks that the index bytes match the index target's hash and
// length, and that the index lists exactly the role's release files, and
// returns the parsed index.
func checkIndex(project string, proposed *tufmeta.Targets, index []byte) (*layout.Index, error) {
	tf := proposed.Signed.Targets[layout.IndexPath(project)]
	if tf == nil {
		return nil, fmt.Errorf("lists no project index")
	}
	if err := tf.VerifyLengthHashes(index); err != nil {
		return nil, fmt.Errorf("the uploaded project index does not match its signed hash and length")
	}
	ix, err := layout.ParseIndex(index)
	if err != nil {
		return nil, err
	}
	if ix.Project != project {
		return nil, fmt.Errorf("the project index is for %q, not %q", ix.Project, project)
	}
	if err := ix.CheckDistinctReleases(); err != nil {
		return nil, err
	}
	listed := map[string]bool{}
	for _, r := range ix.Releases {
		if len(r.Files) == 0 {
			return nil, fmt.Errorf("release %s in the index has no files", r.Version)
		}
		for _, f := range r.Files {
			path := layout.FilePath(project, r.Version, f.Name)
			t, ok := proposed.Signed.Targets[path]
			if !ok {
				return nil, fmt.Errorf("the index lists %s, which the role does not sign", path)
			}
			sum, _ := SHA256Of(t.Hashes)
			if sum != f.SHA256 || t.Length != f.Length {
				return nil, fmt.Errorf("the index and the role disagree on the hash or length of %s", path)
			}
			listed[path] = true
		}
	}
	for path := range proposed.Signed.Targets {
		if path != layout.IndexPath(project) && !listed[path] {
			return nil, fmt.Errorf("the role signs %s, which the index does not list", path)
		}
	}
	return ix, nil
}
