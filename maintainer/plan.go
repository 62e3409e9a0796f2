package maintainer

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"hallmark.dev/hallmark/api"
	"hallmark.dev/hallmark/client"
	"hallmark.dev/hallmark/explain"
	"hallmark.dev/hallmark/layout"
	"hallmark.dev/hallmark/signing"
	"hallmark.dev/hallmark/tufmeta"
	"hallmark.dev/hallmark/validation"
)

// Plan is a change built from verified state, explained, not yet signed.
type Plan struct {
	Project string
	// Lines say in plain words what the change does.
	Lines []string

	// Intent is what was asked for, to plan it again if it is superseded.
	Intent Intent

	base     *client.Project
	owners   *tufmeta.Targets // proposed owners role, nil if unchanged
	releases *tufmeta.Targets // proposed releases role, nil if unchanged
	index    []byte           // proposed index, when the releases role changes
	files    []upFile         // new release files
}

// Summary is the plan's lines joined for one-line display.
func (p *Plan) Summary() string { return strings.Join(p.Lines, "; ") }

// Outcome is what the server did with a submitted change.
type Outcome struct {
	Status          string // api.StatusPublished or api.StatusPending
	PendingID       string
	SignaturesValid int
	Threshold       int
	SnapshotVersion int64
	// Waiting says why downloaders do not see a published change yet.
	Waiting string
}

// state returns the project's verified state and its explain form.
func (t *Tool) state(ctx context.Context, project string) (*client.Project, error) {
	return t.Client.Project(ctx, project)
}

func explainState(p *client.Project) explain.State {
	owners := p.Owners
	return explain.State{Project: p.Name, Owners: &owners, OwnersRole: p.OwnersRole, ReleasesRole: p.ReleasesRole, Index: p.Index}
}

// nextReleases starts the next version of the releases role from the
// verified one, with a fresh expiry and no signatures.
func (t *Tool) nextReleases(p *client.Project) *tufmeta.Targets {
	next := cloneTargets(p.ReleasesRole)
	next.Signed.Version = p.ReleasesRole.Signed.Version + 1
	next.Signed.Expires = t.policyOf(p).ExpiresAt(layout.ReleasesRole(p.Name), t.now())
	return next
}

func (t *Tool) nextOwners(p *client.Project) *tufmeta.Targets {
	next := cloneTargets(p.OwnersRole)
	next.Signed.Version = p.OwnersRole.Signed.Version + 1
	next.Signed.Expires = t.policyOf(p).ExpiresAt(layout.OwnersRole(p.Name), t.now())
	if _, ok, _ := tufmeta.DeclaredOwners(next); !ok {
		tufmeta.SetDeclaredOwners(next, p.Owners)
	}
	return next
}

// finish completes a plan: sets the index target, re-signs releases if an
// owners change would invalidate them, and explains the result.
func (t *Tool) finish(plan *Plan, ix *layout.Index) (*Plan, error) {
	p := plan.base
	if ix != nil {
		b, err := ix.Marshal()
		if err != nil {
			return nil, err
		}
		plan.index = b
		plan.releases.Signed.Targets[layout.IndexPath(p.Name)] = targetFile(b)
	}
	if plan.owners != nil && plan.releases == nil {
		if err := validation.CheckReleasesStillValid(p.Name, plan.owners, p.ReleasesRole); err != nil {
			// The maintainers change: the releases must be re-signed by the
			// new maintainers in the same change.
			plan.releases = t.nextReleases(p)
			plan.index = p.IndexBytes
		}
	}
	plan.explain(ix)
	if len(plan.Lines) == 0 {
		return nil, errors.New("the change changes nothing")
	}
	return plan, nil
}

// PlanRelease adds release version with the given files.
func (t *Tool) PlanRelease(ctx context.Context, project, version string, paths []string) (*Plan, error) {
	return t.PlanReleaseWith(ctx, project, version, paths, nil)
}

// PlanReleaseWith adds release version with the given files and updates
// what the project says about itself (nil: unchanged).
func (t *Tool) PlanReleaseWith(ctx context.Context, project, version string, paths []string, meta *MetaUpdate) (*Plan, error) {
	if _, err := layout.ParseVersion(version); err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		return nil, errors.New("a release needs at least one file")
	}
	p, err := t.state(ctx, project)
	if err != nil {
		return nil, err
	}
	plan := &Plan{Project: p.Name, base: p, releases: t.nextReleases(p)}
	rel := layout.Release{Version: version, Uploaded: layout.UploadTime(t.now())}
	for _, path := range paths {
		name := filepath.Base(path)
		if err := layout.CheckFilename(name); err != nil {
			return nil, err
		}
		if slices.ContainsFunc(rel.Files, func(f layout.FileEntry) bool { return f.Name == name }) {
			return nil, fmt.Errorf("two files are named %s", name)
		}
		sum, n, err := hashFile(path)
		if err != nil {
			return nil, fmt.Errorf("failed to read %s: %w", path, err)
		}
		rel.Files = append(rel.Files, layout.FileEntry{Name: name, SHA256: fmt.Sprintf("%x", sum), Length: n})
		target := layout.FilePath(p.Name, version, name)
		plan.releases.Signed.Targets[target] = &metadata.TargetFiles{Length: n, Hashes: metadata.Hashes{"sha256": sum}}
		plan.files = append(plan.files, upFile{target: target, open: openFile(path), length: n})
	}
	if old, exists := p.Index.SameRelease(version); exists {
		switch {
		case old.Version != version:
			return nil, fmt.Errorf("%s %s is the same release as the published %s: they differ only in build metadata, which SemVer ignores; publish a new version", p.Name, version, old.Version)
		case sameFiles(old.Files, rel.Files) && (meta == nil || metaOrZero(meta.apply(p.Index.Meta)) == metaOrZero(p.Index.Meta)):
			return nil, &AlreadyPublished{Project: p.Name, Version: version}
		case sameFiles(old.Files, rel.Files):
			return nil, fmt.Errorf("%s %s is already published with these files; to change what the project says about itself, upload its next release with the new details", p.Name, version)
		}
		return nil, fmt.Errorf("%s %s is already published with other files; releases are immutable, so publish a new version", p.Name, version)
	}
	ix := *p.Index
	ix.Releases = append(slices.Clone(ix.Releases), rel)
	if meta != nil {
		ix.Meta = meta.apply(p.Index.Meta)
		if err := metaOrZero(ix.Meta).Check(); err != nil {
			return nil, err
		}
	}
	abs := make([]string, len(paths))
	for i, path := range paths {
		if abs[i], err = filepath.Abs(path); err != nil {
			return nil, err
		}
	}
	plan.Intent = Intent{Op: OpRelease, Project: p.Name, Version: version, Files: abs, Meta: meta}
	return t.finish(plan, &ix)
}

// AlreadyPublished is PlanRelease's answer when the release is published
// already with exactly the same files (names, lengths and sha256): a retry
// of an upload that succeeded, which needs no change.
type AlreadyPublished struct {
	Project, Version string
}

func (a *AlreadyPublished) Error() string {
	return fmt.Sprintf("%s %s is already published with exactly these files", a.Project, a.Version)
}

func sameFiles(a, b []layout.FileEntry) bool {
	if len(a) != len(b) {
		return false
	}
	for _, f := range b {
		if !slices.Contains(a, f) {
			return false
		}
	}
	return true
}

// PlanYank yanks (or, with yank false, unyanks) a release.
func (t *Tool) PlanYank(ctx context.Context, project, version, reason string, yank bool) (*Plan, error) {
	p, err := t.state(ctx, project)
	if err != nil {
		return nil, err
	}
	ix := cloneIndex(p.Index)
	rel, ok := ix.Release(version)
	if !ok {
		return nil, fmt.Errorf("%s has no version %s", p.Name, version)
	}
	if rel.Yanked == yank && (!yank || rel.YankedReason == reason) {
		if yank {
			return nil, fmt.Errorf("%s %s is already yanked", p.Name, version)
		}
		return nil, fmt.Errorf("%s %s is not yanked", p.Name, version)
	}
	rel.Yanked, rel.YankedReason = yank, ""
	if yank {
		rel.YankedReason = reason
	}
	op := OpUnyank
	if yank {
		op = OpYank
	}
	return t.finish(&Plan{Project: p.Name, base: p, releases: t.nextReleases(p), Intent: Intent{Op: op, Project: p.Name, Version: version, Reason: reason}}, ix)
}

// PlanRemoveFile stops serving and trusting one file of a release; a
// release left without files is removed.
func (t *Tool) PlanRemoveFile(ctx context.Context, project, version, file string) (*Plan, error) {
	p, err := t.state(ctx, project)
	if err != nil {
		return nil, err
	}
	ix := cloneIndex(p.Index)
	rel, ok := ix.Release(version)
	if !ok {
		return nil, fmt.Errorf("%s has no version %s", p.Name, version)
	}
	i := slices.IndexFunc(rel.Files, func(f layout.FileEntry) bool { return f.Name == file })
	if i < 0 {
		return nil, fmt.Errorf("%s %s has no file %s", p.Name, version, file)
	}
	rel.Files = slices.Delete(rel.Files, i, i+1)
	if len(rel.Files) == 0 {
		ix.Releases = slices.DeleteFunc(ix.Releases, func(r layout.Release) bool { return r.Version == version })
	}
	plan := &Plan{Project: p.Name, base: p, releases: t.nextReleases(p)}
	delete(plan.releases.Signed.Targets, layout.FilePath(p.Name, version, file))
	plan.Intent = Intent{Op: OpRemoveFile, Project: p.Name, Version: version, File: file}
	return t.finish(plan, ix)
}

// PlanRenew re-signs both project roles with a fresh expiry.
func (t *Tool) PlanRenew(ctx context.Context, project string) (*Plan, error) {
	p, err := t.state(ctx, project)
	if err != nil {
		return nil, err
	}
	plan := &Plan{Project: p.Name, base: p, owners: t.nextOwners(p), releases: t.nextReleases(p), index: p.IndexBytes,
		Intent: Intent{Op: OpRenew, Project: p.Name}}
	return t.finish(plan, nil)
}

// PlanMaintainers adds and removes maintainers. remove entries are key ids
// (or a unique prefix of 8+ hex digits) or labels.
func (t *Tool) PlanMaintainers(ctx context.Context, project string, add []signing.PublicKey, remove []string) (*Plan, error) {
	p, err := t.state(ctx, project)
	if err != nil {
		return nil, err
	}
	owners := t.nextOwners(p)
	dl := owners.Signed.Delegations
	role := &dl.Roles[0]
	set := tufmeta.Delegation{Keys: dl.Keys, KeyIDs: role.KeyIDs, Threshold: role.Threshold}
	labels, err := editKeySet(&set, add, remove, tufmeta.Labels(owners), "maintainer", "--releases", p.Name)
	if err != nil {
		return nil, err
	}
	dl.Keys, role.KeyIDs = set.Keys, set.KeyIDs
	tufmeta.SetLabels(owners, labels)
	return t.finish(&Plan{Project: p.Name, base: p, owners: owners, Intent: keyIntent(OpMaintainers, p.Name, add, remove)}, nil)
}

func keyIntent(op, project string, add []signing.PublicKey, remove []string) Intent {
	in := Intent{Op: op, Project: project, Remove: remove}
	for _, k := range add {
		in.Add = append(in.Add, k.String())
	}
	return in
}

// PlanOwners adds and removes owners: for a project not claimed yet the
// change applies at once; a threshold of the current owners and of the new
// owners must sign it.
func (t *Tool) PlanOwners(ctx context.Context, project string, add []signing.PublicKey, remove []string) (*Plan, error) {
	p, err := t.state(ctx, project)
	if err != nil {
		return nil, err
	}
	owners := t.nextOwners(p)
	declared, _, err := tufmeta.DeclaredOwners(owners)
	if err != nil {
		return nil, err
	}
	set := tufmeta.Delegation{Keys: maps.Clone(declared.Keys), KeyIDs: slices.Clone(declared.KeyIDs), Threshold: declared.Threshold}
	labels, err := editKeySet(&set, add, remove, tufmeta.Labels(owners), "owner", "--owners", p.Name)
	if err != nil {
		return nil, err
	}
	tufmeta.SetDeclaredOwners(owners, set)
	tufmeta.SetLabels(owners, labels)
	return t.finish(&Plan{Project: p.Name, base: p, owners: owners, Intent: keyIntent(OpOwners, p.Name, add, remove)}, nil)
}

// editKeySet adds and removes keys of a set of owners or maintainers (what
// names them: "owner" or "maintainer") and returns the labels of the added
// keys. remove entries are key ids, 8+ digit prefixes of one, or labels.
func editKeySet(set *tufmeta.Delegation, add []signing.PublicKey, remove []string, labels map[string]string, what, flag, project string) (map[string]string, error) {
	article := "a"
	if what == "owner" {
		article = "an"
	}
	added := map[string]string{}
	for _, k := range add {
		if slices.Contains(set.KeyIDs, k.ID()) {
			return nil, fmt.Errorf("key %s is already %s %s of %s", k.ShortID(), article, what, project)
		}
		set.Keys[k.ID()] = k.TUF()
		set.KeyIDs = append(set.KeyIDs, k.ID())
		added[k.ID()] = k.Label
	}
	for _, r := range remove {
		id, err := resolveKey(r, set.KeyIDs, labels)
		if err != nil {
			return nil, fmt.Errorf("%s %q: %w", what, r, err)
		}
		set.KeyIDs = slices.DeleteFunc(set.KeyIDs, func(k string) bool { return k == id })
		delete(set.Keys, id)
	}
	switch {
	case len(set.KeyIDs) == 0:
		return nil, fmt.Errorf("a project needs at least one %s", what)
	case set.Threshold > len(set.KeyIDs):
		return nil, fmt.Errorf("the %s threshold is %d but only %d %s(s) would remain; lower it first with 'hallmark project threshold %s %s N'", strings.TrimPrefix(flag, "--"), set.Threshold, len(set.KeyIDs), what, project, flag)
	}
	return added, nil
}

// PlanThresholds changes the releases threshold and/or the owners
// threshold (0 leaves one unchanged).
func (t *Tool) PlanThresholds(ctx context.Context, project string, releases, owners int) (*Plan, error) {
	p, err := t.state(ctx, project)
	if err != nil {
		return nil, err
	}
	next := t.nextOwners(p)
	if releases != 0 {
		role := &next.Signed.Delegations.Roles[0]
		if releases < 1 || releases > len(role.KeyIDs) {
			return nil, fmt.Errorf("the releases threshold must be between 1 and the number of maintainers (%d)", len(role.KeyIDs))
		}
		role.Threshold = releases
	}
	if owners != 0 {
		set, _, err := tufmeta.DeclaredOwners(next)
		if err != nil {
			return nil, err
		}
		if owners < 1 || owners > len(set.KeyIDs) {
			return nil, fmt.Errorf("the owners threshold must be between 1 and the number of owners (%d)", len(set.KeyIDs))
		}
		set.Threshold = owners
		tufmeta.SetDeclaredOwners(next, set)
	}
	return t.finish(&Plan{Project: p.Name, base: p, owners: next, Intent: Intent{Op: OpThresholds, Project: p.Name, Releases: releases, Owners: owners}}, nil)
}

// resolveKey finds a key id by full id, by a prefix of at least 8 hex
// digits, or by label.
func resolveKey(s string, ids []string, labels map[string]string) (string, error) {
	var found []string
	for _, id := range ids {
		if id == s || (len(s) >= 8 && strings.HasPrefix(id, s)) || (labels[id] != "" && labels[id] == s) {
			found = append(found, id)
		}
	}
	switch len(found) {
	case 0:
		return "", errors.New("no such key (give a key id, 8+ leading hex digits of one, or a label)")
	case 1:
		return found[0], nil
	}
	return "", errors.New("matches several keys; give more of the key id")
}

func cloneIndex(ix *layout.Index) *layout.Index {
	c := &layout.Index{Project: ix.Project, Meta: ix.Meta}
	for _, r := range ix.Releases {
		r.Files = slices.Clone(r.Files)
		c.Releases = append(c.Releases, r)
	}
	return c
}

// MaySign reports which of the plan's roles key may sign.
func (p *Plan) MaySign(key signing.PublicKey) (owners, releases bool) {
	id := key.ID()
	if p.owners != nil {
		_, cur := p.base.Owners.Keys[id]
		d, _, _ := tufmeta.DeclaredOwners(p.owners)
		_, next := d.Keys[id]
		owners = cur || next
	}
	if p.releases != nil {
		ownersRole := p.base.OwnersRole
		if p.owners != nil {
			ownersRole = p.owners
		}
		if d, _, err := tufmeta.TargetsDelegation(ownersRole, layout.ReleasesRole(p.Project)); err == nil {
			_, releases = d.Keys[id]
		}
	}
	return owners, releases
}

// Submit signs what key may sign of the plan, checks the result with the
// server's own validation, and submits it with its files.
func (t *Tool) Submit(ctx context.Context, plan *Plan, key *signing.Key, progress Progress) (*Outcome, error) {
	signOwners, signReleases := plan.MaySign(key.Public())
	if !signOwners && !signReleases {
		who := "a maintainer"
		if plan.owners != nil {
			who = "an owner"
		}
		return nil, fmt.Errorf("key %s (%s) is not %s of %s; ask one to do this, or to add your key", key.Public().ShortID(), key.Label(), who, plan.Project)
	}
	// An owners change starts with a current owner's signature: co-signers'
	// tools refuse changes no current owner or maintainer signed (a key that
	// only the change itself declares an owner could be the server's).
	if _, owner := plan.base.Owners.Keys[key.ID()]; plan.owners != nil && !owner {
		return nil, fmt.Errorf("this change needs an owner's signature first; key %s (%s) is not an owner of %s", key.Public().ShortID(), key.Label(), plan.Project)
	}
	if signOwners {
		if err := tufmeta.Sign(plan.owners, key); err != nil {
			return nil, err
		}
	}
	if signReleases {
		if err := tufmeta.Sign(plan.releases, key); err != nil {
			return nil, err
		}
	}
	if err := t.validate(plan); err != nil {
		return nil, err
	}
	req := api.ChangeRequest{Project: plan.Project}
	var err error
	if plan.owners != nil {
		if req.OwnersRole, err = tufmeta.Encode(plan.owners); err != nil {
			return nil, err
		}
	}
	files := slices.Clone(plan.files)
	if plan.releases != nil {
		if req.ReleasesRole, err = tufmeta.Encode(plan.releases); err != nil {
			return nil, err
		}
		files = append([]upFile{{target: layout.IndexPath(plan.Project), open: bytesOpener(plan.index), length: int64(len(plan.index))}}, files...)
	}
	resp, err := postChange(ctx, t.httpClient(), t.Client.Repo()+"/api/v1/projects/"+plan.Project+"/changes", req, files, progress)
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// validate runs the server's checks on the signed plan against the verified
// base: it must be accepted or pending, never rejected.
func (t *Tool) validate(plan *Plan) error {
	p := plan.base
	st := &validation.Project{Name: p.Name, Owners: p.Owners, OwnersRole: p.OwnersRole, ReleasesRole: p.ReleasesRole, Tombstones: map[string]string{}}
	env := validation.Env{Policy: t.policyOf(p), Now: t.now()}
	if plan.owners != nil {
		if d := validation.CheckOwners(st, plan.owners, env); d.Outcome == validation.Reject {
			return fmt.Errorf("the change does not validate: %v", d.Reason)
		}
		st.OwnersRole = plan.owners
	}
	if plan.releases != nil {
		d := validation.CheckReleases(st, plan.releases, plan.index, env)
		if d.Outcome == validation.Reject && !(d.Unsigned && plan.owners != nil) {
			return fmt.Errorf("the change does not validate: %v", d.Reason)
		}
	} else if plan.owners != nil {
		if err := validation.CheckReleasesStillValid(p.Name, plan.owners, p.ReleasesRole); err != nil {
			return err
		}
	}
	return nil
}

// explain fills the plan's lines: what going from the verified base to the
// proposed roles (and index ix, if the releases change) does.
func (plan *Plan) explain(ix *layout.Index) {
	p := plan.base
	newState := plan.newState(ix)
	plan.Lines = explain.Change(explainState(p), newState)
	if len(plan.Lines) > 0 && newState.Owners != nil && p.Claimed && !tufmeta.SameKeys(*newState.Owners, p.Owners) {
		// A claimed project's owners role only requests the change; the
		// admins' claim ceremony applies it (DESIGN.md section 2).
		plan.Lines = append(plan.Lines, fmt.Sprintf("%s is claimed: the owner change takes effect once the repository's admins apply it ('hallmark admin claim'); until then the current owners stay in charge", p.Name))
	}
}

// newState is the project as it would be after the plan.
func (plan *Plan) newState(ix *layout.Index) explain.State {
	p := plan.base
	newState := explainState(p)
	if plan.owners != nil {
		newState.OwnersRole = plan.owners
		if d, ok, _ := tufmeta.DeclaredOwners(plan.owners); ok {
			newState.Owners = &d
		}
	}
	if plan.releases != nil {
		newState.ReleasesRole = plan.releases
		if ix != nil {
			newState.Index = ix
		}
	}
	return newState
}

// policyOf is the expiry policy the admins signed for the project's
// repository, or the tool's own when set.
func (t *Tool) policyOf(p *client.Project) layout.Policy {
	if t.Policy != (layout.Policy{}) {
		return t.Policy
	}
	if p != nil && p.Settings.Expiry != (layout.Policy{}) {
		return p.Settings.Expiry
	}
	return layout.DefaultPolicy()
}
