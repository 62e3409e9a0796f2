// Package maintainer holds the commands a project's maintainers run on
// their own machines: create a project, upload a release. Each builds the
// proposed metadata from the state it learned through TUF verification
// (package client) — never from what the server says — checks it with the
// same validation the server runs, explains it, signs it and submits it.
package maintainer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"hallmark.dev/hallmark/api"
	"hallmark.dev/hallmark/client"
	"hallmark.dev/hallmark/layout"
	"hallmark.dev/hallmark/signing"
	"hallmark.dev/hallmark/tufmeta"
	"hallmark.dev/hallmark/validation"
)

// LabelsField is the signed field of an owners role that maps key ids to
// their human labels.
const LabelsField = "x-hallmark-labels"

// Tool signs and submits changes to one repository.
type Tool struct {
	Client *client.Client
	HTTP   *http.Client
	Policy layout.Policy
	Now    func() time.Time
}

func (t *Tool) now() time.Time {
	if t.Now != nil {
		return t.Now()
	}
	return time.Now()
}

func (t *Tool) httpClient() *http.Client {
	if t.HTTP != nil {
		return t.HTTP
	}
	return http.DefaultClient
}

func (t *Tool) policy() layout.Policy {
	if t.Policy == (layout.Policy{}) {
		return layout.DefaultPolicy()
	}
	return t.Policy
}

// Created describes a created project.
type Created struct {
	Project  string
	Shard    string
	Response *api.ChangeResponse
}

// CreateProject registers a project owned and maintained by key, with
// threshold 1. The owners role's signature proves possession of the key.
func (t *Tool) CreateProject(ctx context.Context, name string, key *signing.Key) (*Created, error) {
	project, err := layout.ParseProjectName(name)
	if err != nil {
		return nil, err
	}
	pub := key.Public()
	owners := tufmeta.NewDelegation([]signing.PublicKey{pub}, 1)
	now := t.now()
	pol := t.policy()

	ownersRole := metadata.Targets(pol.ExpiresAt(layout.OwnersRole(project), now))
	ownersRole.Signed.Delegations = &metadata.Delegations{Keys: map[string]*metadata.Key{}}
	maint := tufmeta.NewDelegation([]signing.PublicKey{pub}, 1)
	for id, k := range maint.Keys {
		ownersRole.Signed.Delegations.Keys[id] = k
	}
	ownersRole.Signed.Delegations.Roles = []metadata.DelegatedRole{{
		Name: layout.ReleasesRole(project), KeyIDs: maint.KeyIDs, Threshold: 1,
		Terminating: true, Paths: layout.DelegationPaths(project),
	}}
	SetLabels(ownersRole, []signing.PublicKey{pub})

	index := &layout.Index{Project: project}
	indexBytes, err := index.Marshal()
	if err != nil {
		return nil, err
	}
	releases := metadata.Targets(pol.ExpiresAt(layout.ReleasesRole(project), now))
	releases.Signed.Targets[layout.IndexPath(project)] = targetFile(indexBytes)

	// Check locally what the server will check, before signing.
	st := &validation.Project{Name: project, Owners: owners, Tombstones: map[string]string{}}
	env := validation.Env{Policy: pol, Now: now}
	if err := tufmeta.Sign(ownersRole, key); err != nil {
		return nil, err
	}
	if d := validation.CheckOwners(st, ownersRole, env); d.Outcome != validation.Accept {
		return nil, fmt.Errorf("internal error: the new owners role does not validate: %v", d.Reason)
	}
	st.OwnersRole = ownersRole
	if err := tufmeta.Sign(releases, key); err != nil {
		return nil, err
	}
	if d := validation.CheckReleases(st, releases, indexBytes, env); d.Outcome != validation.Accept {
		return nil, fmt.Errorf("internal error: the new releases role does not validate: %v", d.Reason)
	}
	ownersJSON, err := tufmeta.Encode(ownersRole)
	if err != nil {
		return nil, err
	}
	releasesJSON, err := tufmeta.Encode(releases)
	if err != nil {
		return nil, err
	}
	change := api.ChangeRequest{
		Project:      name,
		Owners:       &api.Owners{Keys: owners.Keys, KeyIDs: owners.KeyIDs, Threshold: owners.Threshold},
		OwnersRole:   ownersJSON,
		ReleasesRole: releasesJSON,
	}
	files := []upFile{{target: layout.IndexPath(project), open: bytesOpener(indexBytes), length: int64(len(indexBytes))}}
	resp, err := post(ctx, t.httpClient(), t.Client.Repo()+"/api/v1/projects", change, files, nil)
	if err != nil {
		return nil, err
	}
	return &Created{Project: project, Shard: resp.Shard, Response: resp}, nil
}

// SetLabels records key labels in an owners role's signed labels field.
func SetLabels(owners *tufmeta.Targets, keys []signing.PublicKey) {
	labels := map[string]any{}
	if old, ok := owners.Signed.UnrecognizedFields[LabelsField].(map[string]any); ok {
		for k, v := range old {
			labels[k] = v
		}
	}
	for _, k := range keys {
		if k.Label != "" {
			labels[k.ID()] = k.Label
		}
	}
	if owners.Signed.UnrecognizedFields == nil {
		owners.Signed.UnrecognizedFields = map[string]any{}
	}
	owners.Signed.UnrecognizedFields[LabelsField] = labels
}

func bytesOpener(b []byte) func() (io.ReadCloser, error) {
	return func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
}

func targetFile(data []byte) *metadata.TargetFiles {
	sum := sha256.Sum256(data)
	return &metadata.TargetFiles{Length: int64(len(data)), Hashes: metadata.Hashes{"sha256": sum[:]}}
}

// hashFile returns a file's sha256 and length.
func hashFile(path string) ([]byte, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return nil, 0, err
	}
	return h.Sum(nil), n, nil
}

// Release describes an uploaded release.
type Release struct {
	Project  string
	Version  string
	Files    []layout.FileEntry
	Response *api.ChangeResponse
}

// PlanUpload describes an upload before it is signed.
type PlanUpload struct {
	Project string
	Version string
	Files   []layout.FileEntry
	paths   []string
	state   *client.Project
	role    *tufmeta.Targets
	index   []byte
}

// Summary explains the change in plain words.
func (p *PlanUpload) Summary() string {
	var total int64
	for _, f := range p.Files {
		total += f.Length
	}
	return fmt.Sprintf("add release %s of %s: %d file(s), %s", p.Version, p.Project, len(p.Files), humanBytes(total))
}

// PrepareUpload learns the project's verified state and builds the releases
// role that adds the release. Nothing is signed yet.
func (t *Tool) PrepareUpload(ctx context.Context, project, version string, paths []string, key *signing.Key) (*PlanUpload, error) {
	if _, err := layout.ParseVersion(version); err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("a release needs at least one file")
	}
	st, err := t.Client.Project(ctx, project)
	if err != nil {
		return nil, err
	}
	if _, exists := st.Index.Release(version); exists {
		return nil, fmt.Errorf("%s %s is already published; releases are immutable, so publish a new version", st.Name, version)
	}
	del, _, err := tufmeta.TargetsDelegation(st.OwnersRole, layout.ReleasesRole(st.Name))
	if err != nil {
		return nil, err
	}
	if _, ok := del.Keys[key.ID()]; !ok {
		return nil, fmt.Errorf("key %s (%s) is not a maintainer of %s; ask an owner to add it with `hallmark maintainer add`", key.Public().ShortID(), key.Label(), st.Name)
	}
	plan := &PlanUpload{Project: st.Name, Version: version, state: st}
	next := cloneTargets(st.ReleasesRole)
	next.Signed.Version = st.ReleasesRole.Signed.Version + 1
	next.Signed.Expires = t.policy().ExpiresAt(layout.ReleasesRole(st.Name), t.now())
	rel := layout.Release{Version: version}
	for _, p := range paths {
		name := filepath.Base(p)
		if err := layout.CheckFilename(name); err != nil {
			return nil, err
		}
		if slices.ContainsFunc(rel.Files, func(f layout.FileEntry) bool { return f.Name == name }) {
			return nil, fmt.Errorf("two files are named %s", name)
		}
		sum, n, err := hashFile(p)
		if err != nil {
			return nil, fmt.Errorf("failed to read %s: %w", p, err)
		}
		rel.Files = append(rel.Files, layout.FileEntry{Name: name, SHA256: fmt.Sprintf("%x", sum), Length: n})
		next.Signed.Targets[layout.FilePath(st.Name, version, name)] = &metadata.TargetFiles{Length: n, Hashes: metadata.Hashes{"sha256": sum}}
		plan.paths = append(plan.paths, p)
	}
	index := *st.Index
	index.Releases = append(slices.Clone(index.Releases), rel)
	ib, err := index.Marshal()
	if err != nil {
		return nil, err
	}
	next.Signed.Targets[layout.IndexPath(st.Name)] = targetFile(ib)
	plan.Files, plan.role, plan.index = rel.Files, next, ib
	return plan, nil
}

// Upload signs the plan with key and submits it with its files.
func (t *Tool) Upload(ctx context.Context, plan *PlanUpload, key *signing.Key, progress Progress) (*Release, error) {
	if err := tufmeta.Sign(plan.role, key); err != nil {
		return nil, err
	}
	st := &validation.Project{Name: plan.Project, Owners: plan.state.Owners, OwnersRole: plan.state.OwnersRole,
		ReleasesRole: plan.state.ReleasesRole, Tombstones: map[string]string{}}
	d := validation.CheckReleases(st, plan.role, plan.index, validation.Env{Policy: t.policy(), Now: t.now()})
	if d.Outcome == validation.Reject {
		return nil, fmt.Errorf("the release does not validate: %v", d.Reason)
	}
	roleJSON, err := tufmeta.Encode(plan.role)
	if err != nil {
		return nil, err
	}
	files := []upFile{{target: layout.IndexPath(plan.Project), open: bytesOpener(plan.index), length: int64(len(plan.index))}}
	for i, f := range plan.Files {
		files = append(files, upFile{target: layout.FilePath(plan.Project, plan.Version, f.Name), open: openFile(plan.paths[i]), length: f.Length})
	}
	resp, err := post(ctx, t.httpClient(), t.Client.Repo()+"/api/v1/projects/"+plan.Project+"/changes",
		api.ChangeRequest{Project: plan.Project, ReleasesRole: roleJSON}, files, progress)
	if err != nil {
		return nil, err
	}
	return &Release{Project: plan.Project, Version: plan.Version, Files: plan.Files, Response: resp}, nil
}

// cloneTargets deep-copies targets metadata through its JSON form, without
// signatures.
func cloneTargets(md *tufmeta.Targets) *tufmeta.Targets {
	b, err := json.Marshal(md)
	if err != nil {
		panic("maintainer: cannot re-encode verified metadata: " + err.Error())
	}
	c, err := tufmeta.Decode[metadata.TargetsType](b)
	if err != nil {
		panic("maintainer: cannot re-decode verified metadata: " + err.Error())
	}
	c.Signatures = nil
	if c.Signed.Targets == nil {
		c.Signed.Targets = map[string]*metadata.TargetFiles{}
	}
	return c
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
