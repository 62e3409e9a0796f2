package publish

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"hallmark.dev/hallmark/ceremony"
	"hallmark.dev/hallmark/explain"
	"hallmark.dev/hallmark/layout"
	"hallmark.dev/hallmark/signing"
	"hallmark.dev/hallmark/store"
	"hallmark.dev/hallmark/tufmeta"
	"hallmark.dev/hallmark/validation"
)

// batch is the working state of one publish of one shard: the published
// roles it has read, overlaid with the changes accepted so far.
type batch struct {
	p     *Publisher
	shard string
	env   validation.Env

	snapshot  *tufmeta.Snapshot
	timestamp *tufmeta.Timestamp
	// newBin is decoded only when the batch changes it (bin, below): a
	// release needs one delegation, read from newBinData.
	newBin        *tufmeta.Targets
	newBinData    []byte
	newBinVersion int64
	newDirty      bool
	// keep is set when the roles the batch decodes and signs may be kept
	// in the role cache.
	keep bool
	root *tufmeta.Root // a new root accepted in this batch
	// newBinBytes estimates the encoded size of newBin (0: not measured).
	newBinBytes int
	renewed     bool
	// waiting says why the batch's timestamp is not served yet.
	waiting string

	roles    map[string]*tufmeta.Targets // overlay: accepted roles by name
	changed  []string                    // roles changed in this batch, in order
	projects map[string]store.Project    // projects created in this batch
	files    []store.FileRecord
	removed  []string // target blob paths to delete after commit
	audit    []store.AuditEntry
	targets  map[string]Staged // target blob path → file to store
}

func (p *Publisher) newBatch(ctx context.Context, shard string, cache bool) (*batch, error) {
	b := &batch{
		p: p, shard: shard,
		env:      validation.Env{Policy: p.Policy(), Now: p.cfg.Now()},
		roles:    map[string]*tufmeta.Targets{},
		keep:     cache,
		projects: map[string]store.Project{},
		targets:  map[string]Staged{},
	}
	var err error
	if b.snapshot, err = loadCached[metadata.SnapshotType](ctx, p, shard, layout.RoleSnapshot, cache); err != nil {
		return nil, err
	}
	if b.timestamp, err = loadCached[metadata.TimestampType](ctx, p, shard, layout.RoleTimestamp, cache); err != nil {
		return nil, err
	}
	rf, err := p.view.Role(ctx, shard, layout.NewRole(shard))
	if err != nil {
		return nil, fmt.Errorf("role %s: %w", layout.NewRole(shard), err)
	}
	b.newBinData, b.newBinVersion = rf.Data, rf.Version
	return b, nil
}

// newBinDelegation returns a project's delegation in the new-projects bin:
// from the batch's own copy once it changed the bin; else from the bin as
// stored. A bin decoded in the role cache answers at once (it is only read,
// and what is returned is copied); otherwise the delegation is read from
// the bytes without decoding the bin, which is cheaper once but dearer than
// decoding the bin into the cache when its shard publishes often: a bin
// version read more than decodeAfterLookups times is decoded.
func (b *batch) newBinDelegation(project string) (tufmeta.Delegation, error) {
	role := layout.OwnersRole(project)
	if b.newBin != nil {
		d, _, err := tufmeta.TargetsDelegation(b.newBin, role)
		return d, err
	}
	key := b.shard + "\x00" + layout.NewRole(b.shard)
	if md, ok := b.p.cache.get(key, b.newBinData); ok {
		d, _, err := tufmeta.TargetsDelegation(md.(*tufmeta.Targets), role)
		return copyDelegation(d), err
	}
	if b.p.cache.busy(key, b.newBinVersion) {
		bin, err := b.bin()
		if err != nil {
			return tufmeta.Delegation{}, err
		}
		d, _, err := tufmeta.TargetsDelegation(bin, role)
		return d, err
	}
	d, _, err := tufmeta.LookupDelegation(b.newBinData, role)
	return d, err
}

// copyDelegation copies what a delegation shares with the role it was read
// from, so nothing can change a cached role through it.
func copyDelegation(d tufmeta.Delegation) tufmeta.Delegation {
	keys := make(map[string]*metadata.Key, len(d.Keys))
	for id, k := range d.Keys {
		c := *k
		keys[id] = &c
	}
	d.Keys, d.KeyIDs = keys, slices.Clone(d.KeyIDs)
	return d
}

// bin returns the shard's new-projects bin, decoded, for the batch to
// change.
func (b *batch) bin() (*tufmeta.Targets, error) {
	if b.newBin == nil {
		md, err := decodeCached[metadata.TargetsType](b.p, b.shard, layout.NewRole(b.shard), b.newBinData, b.keep)
		if err != nil {
			return nil, fmt.Errorf("role %s: %w", layout.NewRole(b.shard), err)
		}
		b.newBin = md
	}
	return b.newBin, nil
}

// role returns the current version of a project role, from the overlay or
// the store; nil if it does not exist.
func (b *batch) role(ctx context.Context, name string) (*tufmeta.Targets, error) {
	if md, ok := b.roles[name]; ok {
		return md, nil
	}
	rf, err := b.p.view.Role(ctx, b.shard, name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("role %s: %w", name, err)
	}
	return decodeCached[metadata.TargetsType](b.p, b.shard, name, rf.Data, b.keep)
}

func (b *batch) project(ctx context.Context, name string) (store.Project, error) {
	if pr, ok := b.projects[name]; ok {
		return pr, nil
	}
	return b.p.view.Project(ctx, name)
}

func rejected(format string, args ...any) Result {
	return Result{Outcome: validation.Reject, Reason: &validation.Rejected{Msg: fmt.Sprintf(format, args...)}}
}

// apply validates one change against the batch's current state and, if it
// is accepted, adds it to the overlay.
func (b *batch) apply(ctx context.Context, c *Change) Result {
	res, err := b.check(ctx, c)
	if err != nil {
		return Result{Outcome: validation.Reject, Reason: fmt.Errorf("internal error: %w", err)}
	}
	return res
}

func (b *batch) check(ctx context.Context, c *Change) (Result, error) {
	pr, err := b.project(ctx, c.Project)
	switch {
	case c.Create && err == nil:
		r := rejected("project %s exists already; choose another name", c.Project)
		r.Reason.(*validation.Rejected).Code = validation.RejectExists
		return r, nil
	case c.Create && errors.Is(err, store.ErrNotFound):
		return b.create(ctx, c)
	case errors.Is(err, store.ErrNotFound):
		r := rejected("project %s does not exist; create it with 'hallmark project create %s'", c.Project, c.Project)
		r.Reason.(*validation.Rejected).Code = validation.RejectNotFound
		return r, nil
	case err != nil:
		return Result{}, err
	}
	if pr.Blocked {
		return rejected("project %s is blocked by the repository's admins (%s); nothing can be published for it", pr.Name, pr.BlockReason), nil
	}
	st, err := b.state(ctx, pr)
	if err != nil {
		return Result{}, err
	}
	var res Result
	pending := false
	published := st.OwnersRole
	accepted := map[string]*tufmeta.Targets{}
	var ownerChange *tufmeta.Delegation
	if c.OwnersRole != nil {
		d := validation.CheckOwners(st, c.OwnersRole, b.env)
		if d.Outcome == validation.Reject {
			return Result{Outcome: d.Outcome, Reason: d.Reason, Sigs: d.Sigs}, nil
		}

		pending = d.Outcome == validation.Pending
		ownerChange = d.OwnerChange
		st.OwnersRole = c.OwnersRole
		accepted[layout.OwnersRole(pr.Name)] = c.OwnersRole
		res.Sigs = d.Sigs
	}
	if c.ReleasesRole != nil {
		r, err := b.checkReleases(ctx, st, c)
		if err != nil || r.Outcome == validation.Reject {
			return r, err
		}
		if r.Outcome == validation.Pending && !pending {
			pending, res.Sigs = true, r.Sigs
		} else if !pending {
			res.Sigs = r.Sigs
		}
		accepted[layout.ReleasesRole(pr.Name)] = c.ReleasesRole
	} else if c.OwnersRole != nil {
		if err := validation.CheckReleasesStillValid(pr.Name, c.OwnersRole, st.ReleasesRole); err != nil {
			return rejected("%v", err), nil
		}
	}
	if len(accepted) == 0 {
		return rejected("the change proposes no role"), nil
	}
	if pending {
		// The server keeps a pending change only if a current owner or
		// maintainer signed it: nobody else may queue changes for a project.
		if err := validation.CheckProposers(pr.Name, st.Owners, published, st.ReleasesRole, c.OwnersRole, c.ReleasesRole); err != nil {
			return rejected("%v; nothing was kept", err), nil
		}
		res.Outcome = validation.Pending
		return res, nil
	}
	old := b.explainState(ctx, pr.Name, st.Owners, published, st.ReleasesRole)
	switch {
	case ownerChange != nil && pr.Status == store.StatusClaimed:
		// The owners' signed request waits for the admins' claim ceremony,
		// which alone can change a claimed project's delegation.
		pr.OwnerRequest = true
		b.projects[pr.Name] = pr
	case ownerChange != nil:
		bin, err := b.bin()
		if err != nil {
			return Result{}, err
		}
		tufmeta.SetProjectDelegation(bin, pr.Name, *ownerChange)
		b.newDirty = true
	case c.OwnersRole != nil && pr.OwnerRequest:
		// An owners role that declares the delegated owners again withdraws
		// the request.
		pr.OwnerRequest = false
		b.projects[pr.Name] = pr
	}
	b.accept(pr.Name, st, accepted, c, old)
	res.Outcome = validation.Accept
	return res, nil
}

// state builds the verified state of a project from the published roles.
func (b *batch) state(ctx context.Context, pr store.Project) (*validation.Project, error) {
	binName := layout.NewRole(b.shard)
	var del tufmeta.Delegation
	var err error
	switch {
	case pr.Status == store.StatusClaimed:
		binName = layout.ClaimedRole(b.shard)
		bin, rerr := b.role(ctx, binName)
		if rerr != nil || bin == nil {
			return nil, fmt.Errorf("claimed bin of shard %s: %v", b.shard, rerr)
		}
		del, _, err = tufmeta.TargetsDelegation(bin, layout.OwnersRole(pr.Name))
	default:
		del, err = b.newBinDelegation(pr.Name)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", binName, err)
	}
	st := &validation.Project{Name: pr.Name, Owners: del, Tombstones: map[string]string{}}
	if st.OwnersRole, err = b.role(ctx, layout.OwnersRole(pr.Name)); err != nil {
		return nil, err
	}
	if st.ReleasesRole, err = b.role(ctx, layout.ReleasesRole(pr.Name)); err != nil {
		return nil, err
	}
	files, err := b.p.view.Files(ctx, pr.Name)
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		st.Tombstones[f.Path] = f.SHA256
	}
	for _, f := range b.files {
		if f.Project == pr.Name {
			st.Tombstones[f.Path] = f.SHA256
		}
	}
	return st, nil
}

func (b *batch) create(ctx context.Context, c *Change) (Result, error) {
	if c.OwnersRole == nil || c.ReleasesRole == nil {
		return rejected("creating a project takes both its owners role and its releases role"), nil
	}
	if err := validation.CheckKeys(c.Owners.Keys, c.Owners.KeyIDs, c.Owners.Threshold); err != nil {
		return rejected("owner keys: %v", err), nil
	}
	if c.OwnersRole.Signed.Version != 1 || c.ReleasesRole.Signed.Version != 1 {
		return rejected("a new project's roles start at version 1"), nil
	}
	if declared, ok, err := tufmeta.DeclaredOwners(c.OwnersRole); err != nil || (ok && (!tufmeta.SameKeys(declared, c.Owners) || validation.CheckKeys(declared.Keys, declared.KeyIDs, declared.Threshold) != nil)) {
		return rejected("the owners role declares other owners than the request names"), nil
	}
	st := &validation.Project{Name: c.Project, Owners: c.Owners, Tombstones: map[string]string{}}
	d := validation.CheckOwners(st, c.OwnersRole, b.env)
	if d.Outcome == validation.Reject {
		return Result{Outcome: d.Outcome, Reason: d.Reason, Sigs: d.Sigs}, nil
	}
	// Proof of possession: every owner key signs the new owners role.
	if len(d.Sigs.Valid) != len(c.Owners.KeyIDs) {
		return rejected("creating a project needs the signature of every owner key, as proof that its holders have it; %d of %d signed", len(d.Sigs.Valid), len(c.Owners.KeyIDs)), nil
	}
	st.OwnersRole = c.OwnersRole
	r, err := b.checkReleases(ctx, st, c)
	if err != nil || r.Outcome != validation.Accept {
		if err == nil && r.Outcome == validation.Pending {
			return rejected("the first releases role must be signed by a threshold of maintainers"), nil
		}
		return r, err
	}
	bin, err := b.bin()
	if err != nil {
		return Result{}, err
	}
	if b.newBinBytes == 0 && !b.newDirty {
		b.newBinBytes = len(b.newBinData) // the bin is as stored
	}
	tufmeta.SetProjectDelegation(bin, c.Project, c.Owners)
	// The new-projects bin must stay readable by every client (and by the
	// publisher itself): refuse a project that would push it past the limit.
	size, err := b.newBinSize(c.Owners)
	if err != nil {
		tufmeta.RemoveDelegation(bin, c.Project)
		return Result{}, err
	}
	if size > b.p.cfg.MaxNewBin {
		tufmeta.RemoveDelegation(bin, c.Project)
		return rejected("shard %s holds too many projects that are not claimed yet (its new-projects metadata would be %d bytes); ask the repository's admins to claim projects, then try again", b.shard, size), nil
	}
	b.newBinBytes = size
	b.newDirty = true
	pr := store.Project{Name: c.Project, Display: c.Display, Shard: b.shard, Status: store.StatusNew, Created: b.env.Now}
	b.projects[c.Project] = pr
	b.audit = append(b.audit, store.AuditEntry{Time: b.env.Now, Project: c.Project, Action: "create",
		Detail: fmt.Sprintf("create project %s with %d owner key(s), threshold %d", c.Display, len(c.Owners.KeyIDs), c.Owners.Threshold),
		KeyIDs: d.Sigs.Valid})
	b.accept(c.Project, st, map[string]*tufmeta.Targets{
		layout.OwnersRole(c.Project):   c.OwnersRole,
		layout.ReleasesRole(c.Project): c.ReleasesRole,
	}, c, explain.State{Project: c.Project})
	return Result{Outcome: validation.Accept, Sigs: r.Sigs}, nil
}

// checkReleases validates a proposed releases role, including its uploaded
// files: each must match the signed hash and length, and each new target
// must be uploaded.
func (b *batch) checkReleases(ctx context.Context, st *validation.Project, c *Change) (Result, error) {
	prop := c.ReleasesRole
	index, err := b.indexBytes(ctx, st, c)
	if err != nil {
		return rejected("%v", err), nil
	}
	c.Index = index
	d := validation.CheckReleases(st, prop, index, b.env)
	c.index = d.Index
	if d.Outcome == validation.Reject && d.Unsigned && c.OwnersRole != nil {
		// An owners change that re-signs the releases (new maintainers or
		// threshold) may come from an owner who is not a maintainer: the
		// releases then wait for the maintainers' signatures.
		d.Outcome, d.Reason = validation.Pending, nil
	}
	if d.Outcome == validation.Reject {
		return Result{Outcome: d.Outcome, Reason: d.Reason, Sigs: d.Sigs}, nil
	}
	for path, f := range c.Files {
		tf, ok := prop.Signed.Targets[path]
		if !ok {
			return rejected("uploaded file %s is not listed in the signed releases role", path), nil
		}
		sum, _ := validation.SHA256Of(tf.Hashes)
		if sum != f.SHA256 || tf.Length != f.Length {
			return rejected("uploaded file %s does not match the signed metadata (sha256 %s…, %d bytes signed; %s…, %d bytes received)", path, sum[:12], tf.Length, f.SHA256[:12], f.Length), nil
		}
	}
	for path := range prop.Signed.Targets {
		if _, up := c.Files[path]; up {
			continue
		}
		if cur := st.ReleasesRole; cur != nil {
			if old, ok := cur.Signed.Targets[path]; ok && old.Equal(*prop.Signed.Targets[path]) {
				continue
			}
		}
		return rejected("file %s is signed but was not uploaded", path), nil
	}
	return Result{Outcome: d.Outcome, Reason: d.Reason, Sigs: d.Sigs}, nil
}

// indexBytes returns the proposed project index: the uploaded one, or the
// published one when the index target did not change.
func (b *batch) indexBytes(ctx context.Context, st *validation.Project, c *Change) ([]byte, error) {
	path := layout.IndexPath(st.Name)
	if f, ok := c.Files[path]; ok {
		if f.Length > layout.MaxIndexSize {
			return nil, fmt.Errorf("project index is %d bytes; the limit is %d", f.Length, layout.MaxIndexSize)
		}
		r, err := f.Open()
		if err != nil {
			return nil, err
		}
		defer r.Close()
		return io.ReadAll(io.LimitReader(r, layout.MaxIndexSize+1))
	}
	tf := c.ReleasesRole.Signed.Targets[path]
	if tf == nil || st.ReleasesRole == nil || st.ReleasesRole.Signed.Targets[path] == nil {
		return nil, fmt.Errorf("the project index %s was not uploaded", path)
	}
	sum, err := validation.SHA256Of(tf.Hashes)
	if err != nil {
		return nil, err
	}
	blob, err := b.p.cfg.Blobs.Open(ctx, "targets/"+layout.TargetBlobPath(path, sum))
	if err != nil {
		return nil, fmt.Errorf("the project index %s was not uploaded", path)
	}
	defer blob.Close()
	return io.ReadAll(io.LimitReader(blob, layout.MaxIndexSize+1))
}

// accept records accepted roles in the overlay, with their files.
func (b *batch) accept(project string, st *validation.Project, roles map[string]*tufmeta.Targets, c *Change, old explain.State) {
	for _, name := range slices.Sorted(maps.Keys(roles)) {
		if _, seen := b.roles[name]; !seen || !slices.Contains(b.changed, name) {
			b.changed = append(b.changed, name)
		}
		b.roles[name] = roles[name]
	}
	newState := old
	newState.Project = project
	var signedBy []string
	if o, ok := roles[layout.OwnersRole(project)]; ok {
		newState.OwnersRole = o
		signedBy = append(signedBy, signers(o)...)
		if d, ok, _ := tufmeta.DeclaredOwners(o); ok {
			newState.Owners = &d
		}
	}
	rel, ok := roles[layout.ReleasesRole(project)]
	if ok {
		newState.ReleasesRole = rel
		signedBy = append(signedBy, signers(rel)...)
		if c.index != nil {
			newState.Index = c.index
		} else if ix, err := layout.ParseIndex(c.Index); err == nil {
			newState.Index = ix
		}
		if tf := rel.Signed.Targets[layout.IndexPath(project)]; tf != nil && newState.Index != nil {
			if sum, err := validation.SHA256Of(tf.Hashes); err == nil {
				b.p.indexes.put(sum, newState.Index)
			}
		}
	}
	if old.Owners == nil {
		newState.Owners = nil
	}
	lines := explain.Change(old, newState)
	b.audit = append(b.audit, store.AuditEntry{Time: b.env.Now, Project: project, Action: "change",
		Detail: strings.Join(lines, "; "), KeyIDs: slices.Compact(slices.Sorted(slices.Values(signedBy)))})
	if !ok {
		return
	}
	for path, tf := range rel.Signed.Targets {
		sum, _ := validation.SHA256Of(tf.Hashes)
		if f, up := c.Files[path]; up {
			b.targets["targets/"+layout.TargetBlobPath(path, sum)] = f
		}
		// A file an earlier change of this batch removed may be back (same
		// content): its blob must stay.
		if blob := "targets/" + layout.TargetBlobPath(path, sum); slices.Contains(b.removed, blob) {
			b.removed = slices.DeleteFunc(b.removed, func(p string) bool { return p == blob })
		}
		if path == layout.IndexPath(project) {
			continue
		}
		if _, known := st.Tombstones[path]; !known || (st.ReleasesRole != nil && st.ReleasesRole.Signed.Targets[path] == nil) {
			b.files = append(b.files, store.FileRecord{Project: project, Path: path, SHA256: sum, Length: tf.Length})
		}
	}
	if st.ReleasesRole != nil {
		for path, tf := range st.ReleasesRole.Signed.Targets {
			if _, still := rel.Signed.Targets[path]; still {
				continue
			}
			sum, _ := validation.SHA256Of(tf.Hashes)
			if path != layout.IndexPath(project) {
				b.files = append(b.files, store.FileRecord{Project: project, Path: path, SHA256: sum, Length: tf.Length, Removed: true})
				b.removed = append(b.removed, "targets/"+layout.TargetBlobPath(path, sum))
			}
		}
	}
}

// explainState is the state a change starts from, for its audit line.
func (b *batch) explainState(ctx context.Context, project string, owners tufmeta.Delegation, ownersRole, releases *tufmeta.Targets) explain.State {
	s := explain.State{Project: project, Owners: &owners, OwnersRole: ownersRole, ReleasesRole: releases}
	if releases == nil {
		return s
	}
	tf := releases.Signed.Targets[layout.IndexPath(project)]
	if tf == nil {
		return s
	}
	sum, err := validation.SHA256Of(tf.Hashes)
	if err != nil {
		return s
	}
	if ix, ok := b.p.indexes.get(sum); ok {
		s.Index = ix
		return s
	}
	blob, err := b.p.cfg.Blobs.Open(ctx, "targets/"+layout.TargetBlobPath(layout.IndexPath(project), sum))
	if err != nil {
		return s
	}
	defer blob.Close()
	if data, err := io.ReadAll(io.LimitReader(blob, layout.MaxIndexSize)); err == nil {
		s.Index, _ = layout.ParseIndex(data)
	}
	return s
}

func signers(md *tufmeta.Targets) []string {
	var ids []string
	for _, s := range md.Signatures {
		ids = append(ids, s.KeyID)
	}
	return ids
}

// publish writes the batch: files, metadata, store commit, timestamp. With
// nothing accepted it publishes only if renew is set and an online role is
// inside its signing period. It returns the new snapshot version (0 if
// nothing was published).
func (b *batch) publish(ctx context.Context, renew bool) (int64, error) {
	now := b.env.Now
	pol := b.env.Policy
	if renew {
		bin, err := b.bin()
		if err != nil {
			return 0, err
		}
		if pol.NeedsRenewal(layout.NewRole(b.shard), bin.Signed.Expires, now) {
			b.newDirty = true
		}
	}
	snapDue := renew && pol.NeedsRenewal(layout.RoleSnapshot, b.snapshot.Signed.Expires, now)
	tsDue := renew && pol.NeedsRenewal(layout.RoleTimestamp, b.timestamp.Signed.Expires, now)
	if len(b.changed) == 0 && !b.newDirty && !snapDue && !tsDue && b.root == nil {
		return 0, nil
	}
	if len(b.changed) == 0 && !b.newDirty && !snapDue && b.root == nil {
		// Only the timestamp is due: re-sign it over the same snapshot, so
		// clients re-download nothing but the timestamp.
		return b.publishTimestamp(ctx)
	}
	b.renewed = len(b.changed) == 0 && b.root == nil
	var pub store.Publication
	pub.Shard = b.shard
	meta := func(role string, version int64, data []byte) {
		pub.Roles = append(pub.Roles, store.RoleFile{Shard: b.shard, Role: role, Version: version, Data: data})
	}

	// A new root (not listed in snapshot), roles changed by maintainers or
	// ceremonies, then the new bin, then snapshot.
	if b.root != nil {
		data, err := tufmeta.Encode(b.root)
		if err != nil {
			return 0, err
		}
		meta(layout.RoleRoot, b.root.Signed.Version, data)
		pub.Roles[len(pub.Roles)-1].Expires = b.root.Signed.Expires
	}
	snapMeta := maps.Clone(b.snapshot.Signed.Meta)
	for _, name := range b.changed {
		md := b.roles[name]
		data, err := tufmeta.Encode(md)
		if err != nil {
			return 0, err
		}
		meta(name, md.Signed.Version, data)
		pub.Roles[len(pub.Roles)-1].Expires = md.Signed.Expires
		snapMeta[name+".json"] = metadata.MetaFile(md.Signed.Version)
	}

	if b.newDirty {
		// Re-signed when a change edited it, when its online key changed,
		// or when it is due for renewal.
		bin, err := b.bin()
		if err != nil {
			return 0, err
		}
		bin.Signed.Version++
		bin.Signed.Expires = pol.ExpiresAt(layout.NewRole(b.shard), now)
		key, err := b.onlineKey(ctx, ceremony.OnlineNew)
		if err != nil {
			return 0, err
		}
		bin.Signatures = nil
		if err := tufmeta.Sign(bin, key); err != nil {
			return 0, err
		}
		data, err := tufmeta.Encode(bin)
		if err != nil {
			return 0, err
		}
		if len(data) > tufmeta.MaxRoleSize {
			// Never publish a bin clients (and this publisher) cannot read.
			return 0, fmt.Errorf("the new-projects bin of shard %s would be %d bytes, over the %d every client reads; nothing was published", b.shard, len(data), tufmeta.MaxRoleSize)
		}
		meta(layout.NewRole(b.shard), bin.Signed.Version, data)
		pub.Roles[len(pub.Roles)-1].Expires = bin.Signed.Expires
		snapMeta[layout.NewRole(b.shard)+".json"] = metadata.MetaFile(bin.Signed.Version)
	}
	names := b.p.orderedNames(b.shard, b.snapshot, snapMeta)
	snap := b.snapshot
	snap.Signed.Meta = snapMeta
	snap.Signed.Version++
	snap.Signed.Expires = pol.ExpiresAt(layout.RoleSnapshot, now)
	snapData, err := b.signSnapshot(ctx, snap, names)
	if err != nil {
		return 0, err
	}
	meta(layout.RoleSnapshot, snap.Signed.Version, snapData)
	pub.Roles[len(pub.Roles)-1].Expires = snap.Signed.Expires

	ts := b.timestamp
	sum := sha256.Sum256(snapData)
	ts.Signed.Meta = map[string]*metadata.MetaFiles{"snapshot.json": {
		Version: snap.Signed.Version, Length: int64(len(snapData)), Hashes: metadata.Hashes{"sha256": sum[:]},
	}}
	ts.Signed.Version++
	ts.Signed.Expires = pol.ExpiresAt(layout.RoleTimestamp, now)
	tsData, err := b.signOnline(ctx, ts, layout.RoleTimestamp)
	if err != nil {
		return 0, err
	}
	meta(layout.RoleTimestamp, ts.Signed.Version, tsData)
	pub.Roles[len(pub.Roles)-1].Expires = ts.Signed.Expires
	pub.Files = b.files
	pub.Audit = b.audit
	for _, pr := range b.projects {
		pub.Projects = append(pub.Projects, pr)
	}

	// 1. target files (content-addressed), and the versioned metadata
	// files and timestamp staged (under temporary names, not visible),
	// all at once, then made durable together (one sync of the blob
	// directory's file system, shared with other shards' batches, where
	// the store can; else each file is synced as it is written); 2. the
	// commit, with the list of versioned files it makes current; 3. those
	// files renamed into place; 4. timestamp.json renamed last. Versioned
	// files get their names only once their content is committed, so a
	// file name never holds two contents; a crash before 3 or 4 is
	// repaired from the store, and staged files a crash leaves are removed
	// at start-up. The renames of 3 and 4 are made durable by the shard's
	// next batch's sync, before its commit, so at any crash only the last
	// publication of a shard can lack files, which is what repair redoes.
	versioned := slices.DeleteFunc(slices.Clone(pub.Roles), func(r store.RoleFile) bool { return r.Role == layout.RoleTimestamp })
	pub.Written = written(versioned)
	// A timestamp that witnesses co-sign is served only after the commit,
	// as they signed it. The root in force is read once for both; a new
	// root in the batch (which may name witnesses) is read after the
	// commit.
	var root *shardRoot
	if b.root == nil {
		root = b.p.rootInForce(ctx, b.shard)
	}
	stageTS := root.unwitnessed()
	staged := make([]store.StagedBlob, len(versioned), len(versioned)+1)
	if stageTS {
		staged = staged[:len(versioned)+1]
	}
	discard := func() {
		for _, s := range staged {
			if s != nil {
				s.Discard()
			}
		}
	}
	paths := slices.Sorted(maps.Keys(b.targets))
	if err := writeConcurrently(len(paths)+len(staged), func(i int) error {
		if i < len(paths) {
			return b.putTarget(ctx, paths[i], b.targets[paths[i]])
		}
		i -= len(paths)
		path, data := layout.MetadataBlobPath(b.shard, layout.MetadataFile(layout.RoleTimestamp, 0)), tsData
		if i < len(versioned) {
			r := versioned[i]
			path, data = layout.MetadataBlobPath(b.shard, layout.MetadataFile(r.Role, r.Version)), r.Data
		}
		var err error
		staged[i], err = store.StageDeferred(ctx, b.p.cfg.Blobs, path, data)
		return err
	}); err != nil {
		discard()
		return 0, err
	}
	if err := store.SyncDeferred(ctx, b.p.cfg.Blobs); err != nil {
		discard()
		return 0, err
	}
	if err := b.p.cfg.State.Commit(ctx, pub); err != nil {
		discard()
		// The store may not know whether it committed (a connection lost
		// during COMMIT): the shard's next batch first writes the files of
		// whatever the store holds as its last publication.
		b.p.setDirty(b.shard, true)
		return 0, err
	}
	b.p.view.committed(pub)
	b.remember(pub)
	b.p.keepOrder(b.shard, snap.Signed.Version, names)
	// The witnesses co-sign while the versioned files are published: the
	// commit stands, so the timestamp's version is never reused.
	cosigned := b.p.cosignAsync(ctx, b.shard, tsData, snapData, root)
	if err := writeConcurrently(len(versioned), func(i int) error {
		return staged[i].Publish(ctx)
	}); err != nil {
		if stageTS {
			staged[len(versioned)].Discard()
		}
		// The commit stands; the files are written before the shard's
		// next publication (or by Repair at the next tick or restart).
		b.p.cfg.Log.Error("published but failed to write metadata files; they will be repaired", "shard", b.shard, "err", err)
		b.p.noteError(err)
		b.p.setDirty(b.shard, true)
		return snap.Signed.Version, nil
	}
	full, cerr := cosigned()
	var serr error
	if stageTS && cerr == nil && bytes.Equal(full, tsData) {
		serr = b.p.noteServed(b.shard, staged[len(versioned)].Publish(ctx))
	} else {
		if stageTS {
			staged[len(versioned)].Discard()
		}
		serr = b.p.serveCosigned(ctx, b.shard, full, cerr)
	}
	if serr != nil {
		// The commit stands: the change is published and becomes visible
		// when the shard catches up (retried every few seconds) or
		// publishes again. Reporting a failure would invite a retry that
		// conflicts.
		b.waiting = serr.Error()
	}
	for _, path := range b.removed {
		if err := b.p.cfg.Blobs.Delete(ctx, path); err != nil {
			b.p.cfg.Log.Warn("failed to delete removed file", "path", path, "err", err)
		}
	}
	return snap.Signed.Version, nil
}

func (b *batch) putTarget(ctx context.Context, path string, f Staged) error {
	if ok, err := b.p.cfg.Blobs.Exists(ctx, path); err != nil {
		return err
	} else if ok {
		return nil // content-addressed: the same bytes are there already
	}
	r, err := f.Open()
	if err != nil {
		return err
	}
	defer r.Close()
	h := sha256.New()
	if err := store.PutDeferred(ctx, b.p.cfg.Blobs, path, io.TeeReader(r, h)); err != nil {
		return err
	}
	if got := fmt.Sprintf("%x", h.Sum(nil)); !strings.Contains(path, got) {
		b.p.cfg.Blobs.Delete(ctx, path)
		return fmt.Errorf("staged file for %s changed on disk", path)
	}
	return nil
}

// signSnapshot signs and encodes a snapshot with the online key, its meta
// names in the order given (see tufmeta.SignEncodeInOrder).
func (b *batch) signSnapshot(ctx context.Context, snap *tufmeta.Snapshot, names []string) ([]byte, error) {
	key, err := b.onlineKey(ctx, layout.RoleSnapshot)
	if err != nil {
		return nil, err
	}
	snap.Signatures = nil
	return tufmeta.SignEncodeInOrder(snap, names, key)
}

func (b *batch) signOnline(ctx context.Context, md any, role string) ([]byte, error) {
	key, err := b.onlineKey(ctx, role)
	if err != nil {
		return nil, err
	}
	// Signed and encoded from one canonical form: building it twice was a
	// fifth of a batch's CPU at S = 16 (1,250-entry snapshots).
	switch m := md.(type) {
	case *tufmeta.Snapshot:
		m.Signatures = nil
		return tufmeta.SignEncode(m, key)
	case *tufmeta.Timestamp:
		m.Signatures = nil
		return tufmeta.SignEncode(m, key)
	}
	return nil, fmt.Errorf("cannot sign %T online", md)
}

// publishTimestamp renews the timestamp alone. It returns the (unchanged)
// snapshot version.
func (b *batch) publishTimestamp(ctx context.Context) (int64, error) {
	b.renewed = true
	ts := b.timestamp
	ts.Signed.Version++
	ts.Signed.Expires = b.env.Policy.ExpiresAt(layout.RoleTimestamp, b.env.Now)
	data, err := b.signOnline(ctx, ts, layout.RoleTimestamp)
	if err != nil {
		return 0, err
	}
	pub := store.Publication{Shard: b.shard, Roles: []store.RoleFile{{Shard: b.shard, Role: layout.RoleTimestamp, Version: ts.Signed.Version, Expires: ts.Signed.Expires, Data: data}}}
	if err := b.p.cfg.State.Commit(ctx, pub); err != nil {
		b.p.setDirty(b.shard, true) // its outcome may be unknown
		return 0, err
	}
	b.p.view.committed(pub)
	b.remember(pub)
	if err := b.p.serveTimestamp(ctx, b.shard, data); err != nil {
		b.waiting = err.Error()
	}
	return b.snapshot.Signed.Version, nil
}

// written lists the versioned files a publication makes current, for Repair.
func written(roles []store.RoleFile) []store.RoleRef {
	out := make([]store.RoleRef, len(roles))
	for i, r := range roles {
		out[i] = store.RoleRef{Shard: r.Shard, Role: r.Role, Version: r.Version}
	}
	return out
}

// onlineKey returns the online key of a role of the batch's shard: during
// an online key rotation, the current or the next key, whichever the root
// (timestamp, snapshot) or top-level targets (new bin) in force names.
func (b *batch) onlineKey(ctx context.Context, role string) (*signing.Key, error) {
	cur, err := b.p.cfg.Keys(b.shard, role)
	if err != nil || b.p.cfg.NextKeys == nil {
		return cur, err
	}
	next, err := b.p.cfg.NextKeys(b.shard, role)
	if err != nil {
		return cur, nil
	}
	var named []string
	if role == ceremony.OnlineNew {
		targets, err := b.role(ctx, layout.RoleTargets)
		if err != nil || targets == nil {
			return cur, err
		}
		d, _, _ := tufmeta.TargetsDelegation(targets, layout.NewRole(b.shard))
		named = d.KeyIDs
	} else {
		root, err := b.rootRole(ctx)
		if err != nil {
			return cur, err
		}
		d, _ := tufmeta.RootDelegation(root, role)
		named = d.KeyIDs
	}
	if slices.Contains(named, next.ID()) {
		return next, nil
	}
	return cur, nil
}

// newBinLimit keeps a shard's new-projects bin well inside MaxRoleSize,
// leaving room for its signature and the version and expiry it gets.
const newBinLimit = tufmeta.MaxRoleSize - 64<<10

// newBinSize bounds the encoded size of the new-projects bin just after a
// creation added the delegation d (the bin's last): the size before (the
// stored size, or the bin's encoding if the batch changed it otherwise
// first), plus the delegated role and every key it names, counted as if
// none were in the bin yet. A bound, not an estimate: a creation may name
// many owner keys.
func (b *batch) newBinSize(d tufmeta.Delegation) (int, error) {
	if b.newBinBytes == 0 {
		data, err := tufmeta.Encode(b.newBin)
		return len(data), err
	}
	roles := b.newBin.Signed.Delegations.Roles
	role, err := json.Marshal(roles[len(roles)-1])
	if err != nil {
		return 0, err
	}
	size := b.newBinBytes + len(role) + 1
	for id, k := range d.Keys {
		key, err := json.Marshal(k)
		if err != nil {
			return 0, err
		}
		size += len(id) + len(key) + 4 // "id":key,
	}
	return size, nil
}
