package main

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"mime/multipart"
	"slices"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"hallmark.dev/hallmark/api"
	"hallmark.dev/hallmark/layout"
	"hallmark.dev/hallmark/publish"
	"hallmark.dev/hallmark/signing"
	"hallmark.dev/hallmark/tufmeta"
)

// newSeed returns a fresh random ed25519 seed: each project gets its own
// developer key, kept (as its seed) so that later releases can be signed.
func newSeed() [32]byte {
	var s [32]byte
	if _, err := rand.Read(s[:]); err != nil {
		panic(err)
	}
	return s
}

func devKey(p projectName, seed [32]byte) *signing.Key {
	return signing.FromSeed(seed[:], "maintainer of "+p.Display)
}

// signedChange is one signed write, as the maintainer tool would send it:
// the proposed roles and the files, the project index included.
type signedChange struct {
	Project  projectName
	Create   bool
	Owners   tufmeta.Delegation
	OwnersMD *tufmeta.Targets
	Releases *tufmeta.Targets
	Index    []byte
	Files    map[string][]byte // target path → bytes, the index included
}

// releaseFiles returns the files of one release of a project: a source
// archive and a wheel of a few hundred bytes each.
func releaseFiles(project, version string) map[string][]byte {
	base := project
	if len(base) > 150 {
		base = base[:150]
	}
	out := map[string][]byte{}
	for i, name := range []string{base + "-" + version + ".tar.gz", base + "-" + version + "-py3-none-any.whl"} {
		out[layout.FilePath(project, version, name)] = fileBytes(project, version, i)
	}
	return out
}

// fileBytes is deterministic content of 200-999 bytes.
func fileBytes(project, version string, i int) []byte {
	seed := sha256.Sum256([]byte(fmt.Sprintf("%s %s %d", project, version, i)))
	n := 200 + int(seed[0])<<2 | int(seed[1]&3)
	var buf bytes.Buffer
	for buf.Len() < n {
		seed = sha256.Sum256(seed[:])
		buf.Write(seed[:])
	}
	return buf.Bytes()[:n]
}

func targetFile(data []byte) *metadata.TargetFiles {
	sum := sha256.Sum256(data)
	return &metadata.TargetFiles{Length: int64(len(data)), Hashes: metadata.Hashes{"sha256": sum[:]}}
}

func indexEntry(path string, data []byte) layout.FileEntry {
	sum := sha256.Sum256(data)
	return layout.FileEntry{Name: baseName(path), SHA256: hex.EncodeToString(sum[:]), Length: int64(len(data))}
}

func baseName(p string) string {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] == '/' {
			return p[i+1:]
		}
	}
	return p
}

// createChange builds what `hallmark project create` followed by a first
// `hallmark release upload` of version 1.0.0 would sign, as one change: the
// owners role (proof of possession) and a releases role listing the index
// and two files, both signed by the project's own key.
func createChange(p projectName, key *signing.Key, pol layout.Policy, now time.Time) (*signedChange, error) {
	pub := key.Public()
	owners := tufmeta.NewDelegation([]signing.PublicKey{pub}, 1)
	ownersRole := metadata.Targets(pol.ExpiresAt(layout.OwnersRole(p.Name), now))
	ownersRole.Signed.Delegations = &metadata.Delegations{Keys: map[string]*metadata.Key{}}
	maps.Copy(ownersRole.Signed.Delegations.Keys, owners.Keys)
	ownersRole.Signed.Delegations.Roles = []metadata.DelegatedRole{{
		Name: layout.ReleasesRole(p.Name), KeyIDs: slices.Clone(owners.KeyIDs), Threshold: 1,
		Terminating: true, Paths: layout.DelegationPaths(p.Name),
	}}
	tufmeta.SetLabels(ownersRole, map[string]string{pub.ID(): pub.Label})
	tufmeta.SetDeclaredOwners(ownersRole, owners)
	if err := tufmeta.Sign(ownersRole, key); err != nil {
		return nil, err
	}
	releases := metadata.Targets(pol.ExpiresAt(layout.ReleasesRole(p.Name), now))
	c := &signedChange{Project: p, Create: true, Owners: owners, OwnersMD: ownersRole, Releases: releases}
	if err := c.addRelease(&layout.Index{Project: p.Name}, "1.0.0", key); err != nil {
		return nil, err
	}
	return c, nil
}

// releaseChange builds the next releases role of a project with one more
// release, from its current (published) releases role and index.
func releaseChange(p projectName, key *signing.Key, cur *tufmeta.Targets, ix *layout.Index, version string, pol layout.Policy, now time.Time) (*signedChange, error) {
	next, err := cloneTargets(cur)
	if err != nil {
		return nil, err
	}
	next.Signed.Version = cur.Signed.Version + 1
	next.Signed.Expires = pol.ExpiresAt(layout.ReleasesRole(p.Name), now)
	c := &signedChange{Project: p, Releases: next}
	return c, c.addRelease(ix, version, key)
}

func (c *signedChange) addRelease(ix *layout.Index, version string, key *signing.Key) error {
	files := releaseFiles(c.Project.Name, version)
	rel := layout.Release{Version: version}
	for _, path := range slices.Sorted(maps.Keys(files)) {
		c.Releases.Signed.Targets[path] = targetFile(files[path])
		rel.Files = append(rel.Files, indexEntry(path, files[path]))
	}
	next := layout.Index{Project: ix.Project, Releases: append(slices.Clone(ix.Releases), rel)}
	index, err := next.Marshal()
	if err != nil {
		return err
	}
	c.Index = index
	files[layout.IndexPath(c.Project.Name)] = index
	c.Files = files
	c.Releases.Signed.Targets[layout.IndexPath(c.Project.Name)] = targetFile(index)
	c.Releases.Signatures = nil
	return tufmeta.Sign(c.Releases, key)
}

func cloneTargets(md *tufmeta.Targets) (*tufmeta.Targets, error) {
	b, err := json.Marshal(md)
	if err != nil {
		return nil, err
	}
	c, err := tufmeta.Decode[metadata.TargetsType](b)
	if err != nil {
		return nil, err
	}
	c.Signatures = nil
	if c.Signed.Targets == nil {
		c.Signed.Targets = map[string]*metadata.TargetFiles{}
	}
	return c, nil
}

// publishChange is the change as the server hands it to the publisher
// after staging the files.
func (c *signedChange) publishChange() *publish.Change {
	pc := &publish.Change{Project: c.Project.Name, Create: c.Create, Display: c.Project.Display,
		OwnersRole: c.OwnersMD, ReleasesRole: c.Releases, Files: map[string]publish.Staged{}}
	if c.Create {
		pc.Owners = c.Owners
	}
	for path, data := range c.Files {
		sum := sha256.Sum256(data)
		pc.Files[path] = publish.Staged{
			Open:   func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil },
			SHA256: hex.EncodeToString(sum[:]), Length: int64(len(data)),
		}
	}
	return pc
}

// httpRequest is a write request ready to send: what maintainer.Submit
// sends, a "change" part and then the files.
type httpRequest struct {
	Project     projectName
	Path        string
	ContentType string
	Body        []byte
}

func (c *signedChange) httpRequest() (*httpRequest, error) {
	req := api.ChangeRequest{Project: c.Project.Display}
	var err error
	if c.OwnersMD != nil {
		if req.OwnersRole, err = tufmeta.Encode(c.OwnersMD); err != nil {
			return nil, err
		}
	}
	if req.ReleasesRole, err = tufmeta.Encode(c.Releases); err != nil {
		return nil, err
	}
	path := "/api/v1/projects/" + c.Project.Name + "/changes"
	if c.Create {
		req.Owners = &api.Owners{Keys: c.Owners.Keys, KeyIDs: c.Owners.KeyIDs, Threshold: c.Owners.Threshold}
		path = "/api/v1/projects"
	} else {
		req.Project = c.Project.Name
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	w, err := mw.CreateFormField("change")
	if err != nil {
		return nil, err
	}
	if err := json.NewEncoder(w).Encode(req); err != nil {
		return nil, err
	}
	// The index first, as the maintainer tool sends it, then the files.
	paths := slices.Sorted(maps.Keys(c.Files))
	ix := layout.IndexPath(c.Project.Name)
	paths = append([]string{ix}, slices.DeleteFunc(paths, func(p string) bool { return p == ix })...)
	for _, p := range paths {
		fw, err := mw.CreateFormFile(p, p)
		if err != nil {
			return nil, err
		}
		fw.Write(c.Files[p])
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}
	return &httpRequest{Project: c.Project, Path: path, ContentType: mw.FormDataContentType(), Body: body.Bytes()}, nil
}
