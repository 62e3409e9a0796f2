package admin

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"hallmark.dev/hallmark/ceremony"
	"hallmark.dev/hallmark/client"
	"hallmark.dev/hallmark/layout"
	"hallmark.dev/hallmark/signing"
	"hallmark.dev/hallmark/tufmeta"
	"hallmark.dev/hallmark/validation"
)

// Base is the verified current state of the shards a ceremony changes,
// by shard id. A new repository has none.
type Base map[string]*client.ShardState

// Report is what a bundle does and how far it is signed.
type Report struct {
	// Lines say in plain words what the ceremony does, merged across shards.
	Lines []string
	// Missing lists roles still short of their threshold.
	Missing []string
	// Added counts the signatures the last signing added.
	Added int
	// LeftUnclaimed lists the projects a claim left out, and why: their
	// owners' chain of signed changes does not verify.
	LeftUnclaimed []string
}

// Complete reports whether every role has its threshold.
func (r *Report) Complete() bool { return len(r.Missing) == 0 }

// OwnerCheck verifies an owner change of a claimed project: it returns nil
// if the project's published owners role (verified through TUF) declares
// exactly this owner set and is signed by a threshold of the current and of
// the declared owners.
//
// With no current owners (current.KeyIDs empty) it checks a new claim: the
// proposed owners must be the end of the owners' own signed chain of owner
// changes from the project's creation. It returns a line that says who the
// owners are, for the admins.
type OwnerCheck func(project string, current, proposed tufmeta.Delegation) (string, error)

// Check validates every shard change of b against the verified base (nil
// entries for a new repository) and explains it. A role short of its
// threshold is reported missing; any other problem is an error.
func Check(b *ceremony.Bundle, base Base, env validation.Env, owners OwnerCheck) (*Report, error) {
	rep := &Report{}
	if err := ceremony.CheckTrust(b); err != nil {
		return nil, err
	}
	lines := map[string][]string{} // line → shards
	missing := map[string][]string{}
	for _, ch := range b.Changes {
		if !layout.IsShardID(ch.Shard, b.Shards) {
			return nil, fmt.Errorf("the ceremony names shard %q, which a repository of %d shards does not have", ch.Shard, b.Shards)
		}
		r, err := ch.Decode()
		if err != nil {
			return nil, err
		}
		cur := base[ch.Shard]
		if cur == nil && b.Kind != ceremony.KindInit {
			return nil, fmt.Errorf("no verified state for shard %s", ch.Shard)
		}
		if b.Kind == ceremony.KindInit && (r.Root == nil || r.Targets == nil || r.Claimed == nil) {
			return nil, fmt.Errorf("shard %s: a new repository needs root, targets and claimed bin", ch.Shard)
		}
		if b.Kind == ceremony.KindInit && r.Claimed.Signed.Delegations != nil && len(r.Claimed.Signed.Delegations.Roles) > 0 {
			return nil, fmt.Errorf("shard %s: a new repository's claimed bin must be empty; projects are claimed after they are created", ch.Shard)
		}
		ls, miss, err := checkShard(b.Shards, cur, r, env, owners)
		if err != nil {
			return nil, fmt.Errorf("shard %s: %w", ch.Shard, err)
		}
		for _, l := range ls {
			lines[l] = append(lines[l], ch.Shard)
		}
		for _, m := range miss {
			missing[m] = append(missing[m], ch.Shard)
		}
	}
	rep.Lines = merge(lines, b.Shards)
	if b.Trust != nil {
		rep.Lines = append(rep.Lines, "users will pin the trust fingerprint "+b.Trust.Fingerprint()+" (compare it with the one the proposer announced)")
	}
	if b.Kind == ceremony.KindRotate && slices.ContainsFunc(rep.Lines, func(l string) bool { return strings.Contains(l, "the server's next one") }) {
		if o, ok := ceremony.OnlineOf(b); ok {
			rep.Lines = append(rep.Lines, "the server's next online keys have fingerprint "+o.Fingerprint()+" (compare it with what 'hallmark admin prepare --rotate-online' printed on the server)")
		}
	}
	rep.Missing = merge(missing, b.Shards)
	return rep, nil
}

// merge turns per-shard lines into lines with the shards they apply to.
func merge(m map[string][]string, shards int) []string {
	keys := slices.Sorted(maps.Keys(m))
	var out []string
	for _, k := range keys {
		s := m[k]
		switch {
		case shards == 1:
			out = append(out, k)
		case len(s) == shards:
			out = append(out, fmt.Sprintf("%s (every shard)", k))
		case len(s) <= 4:
			out = append(out, fmt.Sprintf("%s (shard %s)", k, strings.Join(s, ", ")))
		default:
			out = append(out, fmt.Sprintf("%s (%d shards)", k, len(s)))
		}
	}
	return out
}

func checkShard(shards int, cur *client.ShardState, r *ceremony.Roles, env validation.Env, owners OwnerCheck) (lines, missing []string, err error) {
	var curRoot *tufmeta.Root
	var curTargets, curClaimed *tufmeta.Targets
	if cur != nil {
		curRoot, curTargets, curClaimed = cur.Root, cur.Targets, cur.Claimed
	}
	outcome := func(what string, d validation.Decision) error {
		switch {
		case d.Outcome == validation.Reject && d.Unsigned:
			// Not signed at all yet: another admin's keys may sign it.
			missing = append(missing, fmt.Sprintf("%s: no signature yet", what))
		case d.Outcome == validation.Reject:
			return d.Reason
		case d.Outcome == validation.Pending:
			missing = append(missing, fmt.Sprintf("%s: %d of %d signatures", what, len(d.Sigs.Valid), d.Sigs.Threshold))
		}
		return nil
	}
	root := curRoot
	if r.Root != nil {
		if err := outcome("root", validation.CheckRoot(r.Shard, shards, curRoot, r.Root, env)); err != nil {
			return nil, nil, err
		}
		if curRoot != nil && !rootThresholdMet(curRoot, r.Root) {
			// CheckRoot reports the old keys' count first; make sure the new
			// keys' threshold is reported too once the old one is met.
			missing = append(missing, "root: the new root keys' threshold")
		}
		lines = append(lines, rootLines(curRoot, r.Root)...)
		root = r.Root
	}
	targets := curTargets
	if r.Targets != nil {
		if err := outcome("targets", validation.CheckTopTargets(r.Shard, shards, root, curTargets, r.Targets, env)); err != nil {
			return nil, nil, err
		}
		lines = append(lines, targetsLines(curTargets, r.Targets, r.Shard)...)
		targets = r.Targets
	}
	if r.Claimed != nil {
		if err := outcome("claimed bin", validation.CheckClaimedBin(r.Shard, shards, targets, curClaimed, r.Claimed, env)); err != nil {
			return nil, nil, err
		}
		cl, err := claimedLines(cur, r, owners)
		if err != nil {
			return nil, nil, err
		}
		lines = append(lines, cl...)
	}
	return lines, missing, nil
}

func rootThresholdMet(cur, next *tufmeta.Root) bool {
	d, err := tufmeta.RootDelegation(next, layout.RoleRoot)
	if err != nil {
		return false
	}
	c, err := tufmeta.Count(next, d)
	return err == nil && c.Met()
}

func keyNames(ids []string) string {
	short := make([]string, len(ids))
	for i, id := range ids {
		short[i] = id[:8]
	}
	sort.Strings(short)
	return strings.Join(short, ", ")
}

func diffKeys(what string, a, b tufmeta.Delegation) []string {
	var out []string
	var added, removed []string
	for _, id := range b.KeyIDs {
		if !slices.Contains(a.KeyIDs, id) {
			added = append(added, id)
		}
	}
	for _, id := range a.KeyIDs {
		if !slices.Contains(b.KeyIDs, id) {
			removed = append(removed, id)
		}
	}
	if len(added) > 0 {
		out = append(out, fmt.Sprintf("add %s key(s) %s", what, keyNames(added)))
	}
	if len(removed) > 0 {
		out = append(out, fmt.Sprintf("remove %s key(s) %s", what, keyNames(removed)))
	}
	if a.Threshold != b.Threshold {
		out = append(out, fmt.Sprintf("%s threshold %d → %d", what, a.Threshold, b.Threshold))
	}
	return out
}

func rootLines(cur, next *tufmeta.Root) []string {
	if cur == nil {
		var out []string
		for _, r := range []string{layout.RoleRoot, layout.RoleTargets} {
			d, _ := tufmeta.RootDelegation(next, r)
			out = append(out, fmt.Sprintf("%s keys %s, threshold %d", r, keyNames(d.KeyIDs), d.Threshold))
		}
		out = append(out, witnessLines(nil, next)...)
		return append(out, "create the repository's metadata, version 1")
	}
	var out []string
	for _, r := range []string{layout.RoleRoot, layout.RoleTargets} {
		a, _ := tufmeta.RootDelegation(cur, r)
		b, _ := tufmeta.RootDelegation(next, r)
		out = append(out, diffKeys(r, a, b)...)
	}
	// Online keys differ per shard: say what changes, not which key.
	a, _ := tufmeta.RootDelegation(cur, layout.RoleSnapshot)
	b, _ := tufmeta.RootDelegation(next, layout.RoleSnapshot)
	if !tufmeta.SameKeys(a, b) {
		out = append(out, "replace the online snapshot key with the server's next one")
	}
	ca, errA := tufmeta.SplitTimestamp(cur)
	cb, errB := tufmeta.SplitTimestamp(next)
	if errA == nil && errB == nil && !tufmeta.SameKeys(withThreshold(ca.Online, 1), withThreshold(cb.Online, 1)) {
		out = append(out, "replace the online timestamp key with the server's next one")
	}
	out = append(out, witnessLines(cur, next)...)
	if len(out) == 0 {
		out = append(out, "renew root, valid until "+next.Signed.Expires.Format("2006-01-02"))
	}
	return out
}

func targetsLines(cur, next *tufmeta.Targets, shard string) []string {
	if cur == nil {
		d, _, _ := tufmeta.TargetsDelegation(next, layout.ClaimedRole(shard))
		return []string{fmt.Sprintf("claim keys %s, threshold %d", keyNames(d.KeyIDs), d.Threshold)}
	}
	a, _, _ := tufmeta.TargetsDelegation(cur, layout.ClaimedRole(shard))
	b, _, _ := tufmeta.TargetsDelegation(next, layout.ClaimedRole(shard))
	out := diffKeys("claim", a, b)
	na, _, _ := tufmeta.TargetsDelegation(cur, layout.NewRole(shard))
	nb, _, _ := tufmeta.TargetsDelegation(next, layout.NewRole(shard))
	if !tufmeta.SameKeys(na, nb) {
		out = append(out, "replace the online key of the new-projects bin with the server's next one")
	}
	sa, _ := tufmeta.SettingsOf(cur)
	sb, _ := tufmeta.SettingsOf(next)
	out = append(out, settingsDiff(sa, sb)...)
	if len(out) == 0 {
		out = append(out, "renew targets, valid until "+next.Signed.Expires.Format("2006-01-02"))
	}
	return out
}

// claimedLines explains a claimed bin change project by project, and
// checks claims and owner changes against verified state.
func claimedLines(cur *client.ShardState, r *ceremony.Roles, owners OwnerCheck) ([]string, error) {
	if cur == nil {
		return nil, nil
	}
	before := delegationsOf(cur.Claimed)
	after := delegationsOf(r.Claimed)
	var out []string
	for name := range before {
		if _, ok := after[name]; !ok {
			return nil, fmt.Errorf("the ceremony drops the claimed project %s: its files would fall to the online key", name)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(after)) {
		d := after[name]
		old, wasClaimed := before[name]
		blocked, reason := isBlocked(r.Claimed, name)
		wasBlocked, _ := isBlocked(cur.Claimed, name)
		switch {
		case !wasClaimed:
			read, ok := r.Claims[name]
			if !ok {
				return nil, fmt.Errorf("the claimed bin adds %s without claiming it", name)
			}
			inNew, _, err := tufmeta.TargetsDelegation(cur.New, layout.OwnersRole(name))
			if err != nil {
				return nil, fmt.Errorf("%s is not a new project of this shard: %v", name, err)
			}
			if !tufmeta.SameKeys(inNew, read) {
				return nil, fmt.Errorf("the ceremony claims %s with other owner keys than it has in %s", name, layout.NewRole(r.Shard))
			}
			if blocked {
				if !tufmeta.SameKeys(blockedOwners(r.Claimed, name), inNew) {
					return nil, fmt.Errorf("the block of %s records other owners than it has", name)
				}
				out = append(out, fmt.Sprintf("block %s: %s", name, reason))
			} else {
				if !tufmeta.SameKeys(inNew, d) {
					return nil, fmt.Errorf("the ceremony claims %s but delegates it to other keys than its owners", name)
				}
				line := "claim " + name
				if owners != nil {
					who, err := owners(name, tufmeta.Delegation{}, d)
					if err != nil {
						return nil, fmt.Errorf("refusing to claim %s: %w", name, err)
					}
					line += ": " + who
				}
				out = append(out, line)
			}
		case blocked && !wasBlocked:
			if !tufmeta.SameKeys(blockedOwners(r.Claimed, name), old) {
				return nil, fmt.Errorf("the block of %s records other owners than it has", name)
			}
			out = append(out, fmt.Sprintf("block %s: %s", name, reason))
		case blocked && wasBlocked:
			if !tufmeta.SameKeys(blockedOwners(r.Claimed, name), blockedOwners(cur.Claimed, name)) {
				return nil, fmt.Errorf("the ceremony changes the owners recorded in the block of %s", name)
			}
		case !blocked && wasBlocked:
			if !tufmeta.SameKeys(blockedOwners(cur.Claimed, name), d) {
				return nil, fmt.Errorf("the ceremony unblocks %s to other owners than the block recorded", name)
			}
			out = append(out, fmt.Sprintf("unblock %s (owners %s, threshold %d)", name, keyNames(d.KeyIDs), d.Threshold))
		case !blocked && !tufmeta.SameKeys(old, d):
			if owners == nil {
				return nil, fmt.Errorf("the ceremony changes the owners of %s and cannot be checked", name)
			}
			if _, err := owners(name, old, d); err != nil {
				return nil, fmt.Errorf("owner change of %s: %w", name, err)
			}
			out = append(out, fmt.Sprintf("change the owners of %s to %s, threshold %d", name, keyNames(d.KeyIDs), d.Threshold))
		}
	}
	if len(out) == 0 {
		out = append(out, "renew "+layout.ClaimedRole(r.Shard)+", valid until "+r.Claimed.Signed.Expires.Format("2006-01-02"))
	}
	return out, nil
}

// Sign adds signatures by every key in keys that a role of the bundle
// names: root by the current or proposed root keys, targets by the targets
// keys of the root in force, claimed bins by the claim keys of the targets
// in force. It returns how many signatures it added.
func Sign(b *ceremony.Bundle, base Base, keys []*signing.Key) (int, error) {
	n := 0
	for i := range b.Changes {
		r, err := b.Changes[i].Decode()
		if err != nil {
			return n, err
		}
		cur := base[r.Shard]
		root := r.Root
		if root == nil && cur != nil {
			root = cur.Root
		}
		targets := r.Targets
		if targets == nil && cur != nil {
			targets = cur.Targets
		}
		if r.Root != nil {
			dels := []tufmeta.Delegation{}
			if d, err := tufmeta.RootDelegation(r.Root, layout.RoleRoot); err == nil {
				dels = append(dels, d)
			}
			if cur != nil {
				if d, err := tufmeta.RootDelegation(cur.Root, layout.RoleRoot); err == nil {
					dels = append(dels, d)
				}
			}
			k, err := signWith(r.Root, dels, keys)
			if err != nil {
				return n, err
			}
			n += k
		}
		if r.Targets != nil && root != nil {
			d, err := tufmeta.RootDelegation(root, layout.RoleTargets)
			if err == nil {
				k, err := signWith(r.Targets, []tufmeta.Delegation{d}, keys)
				if err != nil {
					return n, err
				}
				n += k
			}
		}
		if r.Claimed != nil && targets != nil {
			d, _, err := tufmeta.TargetsDelegation(targets, layout.ClaimedRole(r.Shard))
			if err == nil {
				k, err := signWith(r.Claimed, []tufmeta.Delegation{d}, keys)
				if err != nil {
					return n, err
				}
				n += k
			}
		}
		if err := b.Changes[i].Encode(r); err != nil {
			return n, err
		}
	}
	return n, nil
}

// signWith signs md with each key some delegation names and that has not
// signed yet.
func signWith[T metadata.Roles](md *metadata.Metadata[T], dels []tufmeta.Delegation, keys []*signing.Key) (int, error) {
	var use []*signing.Key
	for _, k := range keys {
		id := k.ID()
		named := slices.ContainsFunc(dels, func(d tufmeta.Delegation) bool { _, ok := d.Keys[id]; return ok })
		signed := slices.ContainsFunc(md.Signatures, func(s metadata.Signature) bool { return s.KeyID == id })
		if named && !signed && !slices.Contains(use, k) {
			use = append(use, k)
		}
	}
	return len(use), tufmeta.Sign(md, use...)
}

func delegationsOf(bin *tufmeta.Targets) map[string]tufmeta.Delegation {
	out := map[string]tufmeta.Delegation{}
	if bin == nil || bin.Signed.Delegations == nil {
		return out
	}
	for _, r := range bin.Signed.Delegations.Roles {
		if d, _, err := tufmeta.TargetsDelegation(bin, r.Name); err == nil {
			out[r.Name] = d
		}
	}
	return out
}

// isBlocked reports whether a bin's delegation of project is a block, and why.
func isBlocked(bin *tufmeta.Targets, project string) (bool, string) {
	b, reason, _ := tufmeta.Blocked(bin, project)
	return b, reason
}

// settingsDiff explains a change of repository settings.
func settingsDiff(a, b layout.Settings) []string {
	var out []string
	for _, k := range layout.SettingsRoles {
		ea, eb := a.Expiry.ForKind(k), b.Expiry.ForKind(k)
		if ea != eb {
			out = append(out, fmt.Sprintf("%s metadata: valid %s → %s, signing period %s → %s", k, ea.Valid, eb.Valid, ea.Signing, eb.Signing))
		}
	}
	if a.MaxFileSize != b.MaxFileSize || a.MaxReleaseSize != b.MaxReleaseSize {
		out = append(out, fmt.Sprintf("upload limits: %d → %d bytes per file, %d → %d per release", a.MaxFileSize, b.MaxFileSize, a.MaxReleaseSize, b.MaxReleaseSize))
	}
	if a.Registration != b.Registration {
		out = append(out, fmt.Sprintf("registration: %s → %s", a.Registration, b.Registration))
	}
	for _, r := range b.Reserved {
		if !slices.Contains(a.Reserved, r) {
			out = append(out, "reserve the name "+r)
		}
	}
	for _, r := range a.Reserved {
		if !slices.Contains(b.Reserved, r) {
			out = append(out, "release the reserved name "+r)
		}
	}
	for _, r := range b.AllowConfusable {
		if !slices.Contains(a.AllowConfusable, r) {
			out = append(out, "allow a project named "+r+" although an existing project's name looks alike")
		}
	}
	for _, r := range a.AllowConfusable {
		if !slices.Contains(b.AllowConfusable, r) {
			out = append(out, "stop allowing the look-alike name "+r+" (an existing project keeps it)")
		}
	}
	return out
}

// blockedOwners returns the owner set a block of project records.
func blockedOwners(bin *tufmeta.Targets, project string) tufmeta.Delegation {
	_, _, owners := tufmeta.Blocked(bin, project)
	return owners
}

func withThreshold(d tufmeta.Delegation, t int) tufmeta.Delegation {
	d.Threshold = t
	return d
}

// witnessLines says which witnesses a root change adds or removes and how
// many signatures a timestamp then needs. Witnesses have one key per
// shard, so they are named, not their keys.
func witnessLines(cur, next *tufmeta.Root) []string {
	nk, err := tufmeta.SplitTimestamp(next)
	if err != nil {
		return []string{"INVALID timestamp role: " + err.Error()}
	}
	var ck tufmeta.TimestampKeys
	if cur != nil {
		if ck, err = tufmeta.SplitTimestamp(cur); err != nil {
			return nil
		}
	}
	had := map[string]tufmeta.Witness{}
	for _, w := range ck.Witnesses {
		had[w.Name] = w
	}
	var out []string
	for _, w := range nk.Witnesses {
		old, ok := had[w.Name]
		switch {
		case !ok:
			out = append(out, fmt.Sprintf("add witness %s (%s) to co-sign every timestamp", w.Name, w.URL))
		case old.KeyID != w.KeyID || old.URL != w.URL:
			out = append(out, fmt.Sprintf("change witness %s: key %s → %s, %s", w.Name, keyNames([]string{old.KeyID}), keyNames([]string{w.KeyID}), w.URL))
		}
		delete(had, w.Name)
	}
	for _, w := range ck.Witnesses {
		if _, gone := had[w.Name]; gone {
			out = append(out, fmt.Sprintf("remove witness %s", w.Name))
		}
	}
	if cur == nil || ck.Role.Threshold != nk.Role.Threshold || len(ck.Witnesses) != len(nk.Witnesses) {
		if len(nk.Witnesses) == 0 {
			out = append(out, "timestamps need the online key alone: NO witness, so fresh clients are only as safe as the online keys")
		} else {
			out = append(out, fmt.Sprintf("timestamps need %d signatures: the online key and %d of the %d witnesses", nk.Role.Threshold, nk.Role.Threshold-len(nk.Online.KeyIDs), len(nk.Witnesses)))
		}
	}
	return out
}
