package publish

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"hallmark.dev/hallmark/layout"
	"hallmark.dev/hallmark/store"
	"hallmark.dev/hallmark/tufmeta"
	"hallmark.dev/hallmark/validation"
)

// Offline is a ceremony's change to one shard: roles signed with offline
// keys, and what they mean for projects.
type Offline struct {
	Shard string
	// Root, Targets and Claimed are new versions, or nil when unchanged.
	Root    *tufmeta.Root
	Targets *tufmeta.Targets
	Claimed *tufmeta.Targets
	// Claims are projects the claimed bin takes over from new.<shard>,
	// each with the new-bin delegation the admin's tool read: if it changed
	// since, the whole change is refused.
	Claims map[string]tufmeta.Delegation
}

// SubmitOffline validates and publishes a ceremony's change to a shard.
func (p *Publisher) SubmitOffline(ctx context.Context, o *Offline) (Result, error) {
	return p.do(ctx, o.Shard, &request{offline: o})
}

func (b *batch) applyOffline(ctx context.Context, o *Offline) Result {
	res, err := b.checkOffline(ctx, o)
	if err != nil {
		return Result{Outcome: validation.Reject, Reason: fmt.Errorf("internal error: %w", err)}
	}
	return res
}

func (b *batch) checkOffline(ctx context.Context, o *Offline) (Result, error) {
	shards := b.p.cfg.Shards
	curRoot, err := b.rootRole(ctx)
	if err != nil {
		return Result{}, err
	}
	curTargets, err := b.role(ctx, layout.RoleTargets)
	if err != nil {
		return Result{}, err
	}
	curClaimed, err := b.role(ctx, layout.ClaimedRole(b.shard))
	if err != nil {
		return Result{}, err
	}
	fail := func(d validation.Decision) (Result, error) {
		if d.Outcome == validation.Pending {
			return rejected("%d of %d required signatures: a ceremony is submitted only when every role has its threshold", len(d.Sigs.Valid), d.Sigs.Threshold), nil
		}
		return Result{Outcome: validation.Reject, Reason: d.Reason, Sigs: d.Sigs}, nil
	}
	root := curRoot
	if o.Root != nil {
		if d := validation.CheckRoot(b.shard, shards, curRoot, o.Root, b.env); d.Outcome != validation.Accept {
			return fail(d)
		}
		root = o.Root
		// Online keys change only to this server's next online keys; the
		// witnesses among the timestamp keys are the admins' to change.
		for _, r := range []string{layout.RoleTimestamp, layout.RoleSnapshot} {
			a, _ := onlineDelegation(curRoot, r)
			n, err := onlineDelegation(root, r)
			if err != nil {
				return rejected("the new root: %v", err), nil
			}
			if !tufmeta.SameKeys(a, n) && !b.isNextKey(r, n) {
				return rejected("the new root changes the %s key to one that is not this server's next online key; prepare a rotation with 'hallmark admin prepare --rotate-online'", r), nil
			}
		}
	}
	targets := curTargets
	if o.Targets != nil {
		if d := validation.CheckTopTargets(b.shard, shards, root, curTargets, o.Targets, b.env); d.Outcome != validation.Accept {
			return fail(d)
		}
		targets = o.Targets
	} else if o.Root != nil {
		del, _ := tufmeta.RootDelegation(root, layout.RoleTargets)
		if err := tufmeta.Verify(curTargets, del, "targets"); err != nil {
			return rejected("the new root changes the targets keys: re-sign targets in the same ceremony"), nil
		}
	}
	// The new bin keeps its online key, or moves to the server's next one
	// (and is then re-signed with it).
	oldNew, _, _ := tufmeta.TargetsDelegation(curTargets, layout.NewRole(b.shard))
	newNew, _, err := tufmeta.TargetsDelegation(targets, layout.NewRole(b.shard))
	newKeyChanged := err == nil && !tufmeta.SameKeys(oldNew, newNew)
	if err != nil || (newKeyChanged && !b.isNextKey(OnlineNewRole, newNew)) {
		return rejected("the new targets change the key of %s to one that is not this server's next online key", layout.NewRole(b.shard)), nil
	}
	claimed := curClaimed
	if o.Claimed != nil {
		if d := validation.CheckClaimedBin(b.shard, shards, targets, curClaimed, o.Claimed, b.env); d.Outcome != validation.Accept {
			return fail(d)
		}
		claimed = o.Claimed
	} else if o.Targets != nil {
		del, _, err := tufmeta.TargetsDelegation(targets, layout.ClaimedRole(b.shard))
		if err != nil || tufmeta.Verify(curClaimed, del, layout.ClaimedRole(b.shard)) != nil {
			return rejected("the new targets change the claim keys: re-sign %s in the same ceremony", layout.ClaimedRole(b.shard)), nil
		}
	}
	projects, leaving, err := b.claimEffects(ctx, o, curClaimed, claimed)
	if err != nil {
		var rej *validation.Rejected
		if errors.As(err, &rej) {
			return Result{Outcome: validation.Reject, Reason: rej}, nil
		}
		return Result{}, err
	}
	// Only now that every check passed: claimed projects leave the online
	// bin, so from now on only the offline keys decide who signs for them.
	if len(leaving) > 0 {
		bin, err := b.bin()
		if err != nil {
			return Result{}, err
		}
		for _, name := range leaving {
			tufmeta.RemoveDelegation(bin, layout.OwnersRole(name))
		}
		b.newDirty = true
	}

	// Accepted: overlay the roles and the project effects.
	if o.Root != nil {
		b.root = o.Root
	}
	if newKeyChanged {
		b.newDirty = true
	}
	for _, r := range []struct {
		name string
		md   *tufmeta.Targets
	}{{layout.RoleTargets, o.Targets}, {layout.ClaimedRole(b.shard), o.Claimed}} {
		if r.md != nil {
			if !slices.Contains(b.changed, r.name) {
				b.changed = append(b.changed, r.name)
			}
			b.roles[r.name] = r.md
		}
	}
	for _, pr := range projects {
		b.projects[pr.Name] = pr
		b.audit = append(b.audit, store.AuditEntry{Time: b.env.Now, Project: pr.Name, Action: "ceremony", Detail: describeStatus(pr)})
	}
	return Result{Outcome: validation.Accept}, nil
}

func describeStatus(pr store.Project) string {
	if pr.Blocked {
		return "blocked by the repository's admins: " + pr.BlockReason
	}
	return "claimed by the repository's admins: only its owners and the offline keys can change who signs for it"
}

// claimEffects checks what a new claimed bin does to projects and returns
// the project records it changes: claims (the new bin's delegation must be
// unchanged since the admin read it, and the project leaves new.<shard>),
// blocks and unblocks, owner changes.
func (b *batch) claimEffects(ctx context.Context, o *Offline, cur, next *tufmeta.Targets) (projects []store.Project, leaving []string, err error) {
	if o.Claimed == nil {
		if len(o.Claims) > 0 {
			return nil, nil, &validation.Rejected{Msg: "claims without a new claimed bin"}
		}
		return nil, nil, nil
	}
	before := delegations(cur)
	after := delegations(next)
	var out []store.Project
	for _, name := range slices.Sorted(maps.Keys(before)) {
		if _, ok := after[name]; !ok {
			return nil, nil, &validation.Rejected{Msg: fmt.Sprintf("the claimed bin drops project %s; claimed projects are never dropped (block them instead)", name)}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(after)) {
		r := after[name]
		pr, err := b.project(ctx, name)
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil, &validation.Rejected{Msg: fmt.Sprintf("the claimed bin delegates %s, which does not exist", name)}
		}
		if err != nil {
			return nil, nil, err
		}
		_, blocked := r.UnrecognizedFields[tufmeta.BlockedField]
		_, wasClaimed := before[name]
		read, claiming := o.Claims[name]
		switch {
		case !wasClaimed && !claiming && !blocked:
			return nil, nil, &validation.Rejected{Msg: fmt.Sprintf("the claimed bin adds %s without claiming it", name)}
		case claiming:
			if wasClaimed {
				return nil, nil, &validation.Rejected{Msg: fmt.Sprintf("%s is claimed already", name)}
			}
			curDel, err := b.newBinDelegation(name)
			if err != nil || !tufmeta.SameKeys(curDel, read) {
				return nil, nil, &validation.Rejected{Msg: fmt.Sprintf("the delegation of %s in %s changed after the admins' tool read it; claim it again", name, layout.NewRole(b.shard))}
			}
			// The claims record is not signed: the signed claimed bin must
			// delegate the project (or keep, when blocking it) the owners
			// that record names, or anyone could re-point an old claim.
			signed := tufmeta.Delegation{KeyIDs: r.KeyIDs, Threshold: r.Threshold}
			if blocked {
				_, _, signed = tufmeta.Blocked(next, name)
			}
			if !tufmeta.SameKeys(signed, read) {
				return nil, nil, &validation.Rejected{Msg: fmt.Sprintf("the claimed bin gives %s other owners than its delegation in %s; claim it again", name, layout.NewRole(b.shard))}
			}
		}
		if !wasClaimed {
			leaving = append(leaving, name)
		}
		reason := ""
		if blocked {
			_, reason, _ = tufmeta.Blocked(next, name)
		}
		request := pr.OwnerRequest
		if old, ok := before[name]; ok && !tufmeta.SameKeys(tufmeta.Delegation{KeyIDs: old.KeyIDs, Threshold: old.Threshold}, tufmeta.Delegation{KeyIDs: r.KeyIDs, Threshold: r.Threshold}) {
			request = false // the admins applied (or overrode) the request
		}
		if pr.Status != store.StatusClaimed || pr.Blocked != blocked || pr.BlockReason != reason || pr.OwnerRequest != request {
			pr.Status, pr.Blocked, pr.BlockReason, pr.OwnerRequest = store.StatusClaimed, blocked, reason, request
			out = append(out, pr)
		}
	}
	return out, leaving, nil
}

func delegations(bin *tufmeta.Targets) map[string]metadata.DelegatedRole {
	out := map[string]metadata.DelegatedRole{}
	if bin != nil && bin.Signed.Delegations != nil {
		for _, r := range bin.Signed.Delegations.Roles {
			out[r.Name] = r
		}
	}
	return out
}

func (b *batch) rootRole(ctx context.Context) (*tufmeta.Root, error) {
	if b.root != nil {
		return b.root, nil
	}
	return loadCached[metadata.RootType](ctx, b.p, b.shard, layout.RoleRoot, b.keep)
}

// OnlineNewRole is the name online key derivation gives the new bin's key.
const OnlineNewRole = "new"

// isNextKey reports whether d names exactly this server's next online key
// of role (during an online key rotation).
func (b *batch) isNextKey(role string, d tufmeta.Delegation) bool {
	if b.p.cfg.NextKeys == nil {
		return false
	}
	k, err := b.p.cfg.NextKeys(b.shard, role)
	return err == nil && len(d.KeyIDs) == 1 && d.KeyIDs[0] == k.ID() && d.Threshold == 1
}

// onlineDelegation returns the keys of an online role that are the
// server's: for the timestamp, its keys less the witnesses', with
// threshold 1.
func onlineDelegation(root *tufmeta.Root, role string) (tufmeta.Delegation, error) {
	if role != layout.RoleTimestamp {
		return tufmeta.RootDelegation(root, role)
	}
	k, err := tufmeta.SplitTimestamp(root)
	if err != nil {
		return tufmeta.Delegation{}, err
	}
	k.Online.Threshold = 1
	return k.Online, nil
}
