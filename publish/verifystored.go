package publish

import (
	"context"
	"fmt"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"hallmark.dev/hallmark/layout"
	"hallmark.dev/hallmark/store"
	"hallmark.dev/hallmark/tufmeta"
)

// verifyStored checks, before a repair writes a role file from the store,
// that it carries a threshold of signatures of the keys its delegating
// role names as published (the online key alone, for the timestamp, which
// the store keeps before the witnesses sign). Every role was checked when
// it was accepted; this keeps rows changed in the database since (by an
// intruder or a corruption) from being published by the server itself.
func (p *Publisher) verifyStored(ctx context.Context, shard string, rf store.RoleFile) error {
	fail := func(err error) error {
		return fmt.Errorf("the store's %s version %d of shard %s does not verify, so it was not published: %w", rf.Role, rf.Version, shard, err)
	}
	kind, name := layout.ParseRole(rf.Role)
	switch {
	case rf.Role == layout.RoleRoot:
		root, err := tufmeta.Decode[metadata.RootType](rf.Data)
		if err != nil {
			return fail(err)
		}
		signers := []*tufmeta.Root{root}
		if rf.Version > 1 {
			prev, err := p.cfg.State.RoleVersion(ctx, shard, layout.RoleRoot, rf.Version-1)
			if err != nil {
				return err
			}
			pr, err := tufmeta.Decode[metadata.RootType](prev.Data)
			if err != nil {
				return fail(err)
			}
			signers = append(signers, pr)
		}
		for _, s := range signers {
			d, err := tufmeta.RootDelegation(s, layout.RoleRoot)
			if err == nil {
				err = tufmeta.Verify(root, d, "root")
			}
			if err != nil {
				return fail(err)
			}
		}
		return nil
	case kind == layout.KindTopLevel:
		root, err := p.storedRole(ctx, shard, layout.RoleRoot)
		if err != nil {
			return err
		}
		r, err := tufmeta.Decode[metadata.RootType](root.Data)
		if err != nil {
			return fail(err)
		}
		d, err := onlineDelegation(r, rf.Role)
		if err != nil {
			return fail(err)
		}
		switch rf.Role {
		case layout.RoleTargets:
			return verifyTargets(rf, d, fail)
		case layout.RoleSnapshot:
			md, err := tufmeta.Decode[metadata.SnapshotType](rf.Data)
			if err == nil {
				err = tufmeta.Verify(md, d, rf.Role)
			}
			if err != nil {
				return fail(err)
			}
		case layout.RoleTimestamp:
			md, err := tufmeta.Decode[metadata.TimestampType](rf.Data)
			if err == nil {
				err = tufmeta.Verify(md, d, rf.Role)
			}
			if err != nil {
				return fail(err)
			}
		}
		return nil
	}
	parent, err := p.delegatorOf(ctx, shard, kind, name)
	if err != nil {
		return fail(err)
	}
	d, _, err := tufmeta.TargetsDelegation(parent, rf.Role)
	if err != nil {
		return fail(err)
	}
	return verifyTargets(rf, d, fail)
}

// delegatorOf returns the published role that delegates a bin or a project
// role: targets for a bin, the project's bin (claimed, else new) for its
// owners role, the owners role for its releases role.
func (p *Publisher) delegatorOf(ctx context.Context, shard string, kind layout.RoleKind, name string) (*tufmeta.Targets, error) {
	var candidates []string
	switch kind {
	case layout.KindClaimed, layout.KindNew:
		candidates = []string{layout.RoleTargets}
	case layout.KindOwners:
		candidates = []string{layout.ClaimedRole(shard), layout.NewRole(shard)}
	case layout.KindReleases:
		candidates = []string{layout.OwnersRole(name)}
	default:
		return nil, fmt.Errorf("unknown kind of role")
	}
	var firstErr error
	for _, c := range candidates {
		rf, err := p.storedRole(ctx, shard, c)
		if err != nil {
			return nil, err
		}
		md, err := tufmeta.Decode[metadata.TargetsType](rf.Data)
		if err != nil {
			return nil, err
		}
		if kind == layout.KindOwners {
			if _, _, err := tufmeta.TargetsDelegation(md, layout.OwnersRole(name)); err != nil {
				if firstErr == nil {
					firstErr = err
				}
				continue
			}
		}
		return md, nil
	}
	return nil, firstErr
}

func (p *Publisher) storedRole(ctx context.Context, shard, role string) (store.RoleFile, error) {
	rf, err := p.cfg.State.Role(ctx, shard, role)
	if err != nil {
		return rf, fmt.Errorf("shard %s %s: %w", shard, role, err)
	}
	return rf, nil
}

func verifyTargets(rf store.RoleFile, d tufmeta.Delegation, fail func(error) error) error {
	md, err := tufmeta.Decode[metadata.TargetsType](rf.Data)
	if err == nil {
		err = tufmeta.Verify(md, d, rf.Role)
	}
	if err != nil {
		return fail(err)
	}
	return nil
}
