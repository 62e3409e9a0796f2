package validation

import (
	"fmt"
	"slices"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"hallmark.dev/hallmark/layout"
	"hallmark.dev/hallmark/trust"
	"hallmark.dev/hallmark/tufmeta"
)

// Shard is the published offline state of one shard, as a ceremony sees it.
type Shard struct {
	ID      string
	Shards  int
	Root    *tufmeta.Root
	Targets *tufmeta.Targets
	Claimed *tufmeta.Targets
}

// CheckRoot decides on a proposed root of a shard: version current+1 (1 for
// a new repository), signed by a threshold of the current root keys and of
// the proposed root keys, naming the shard, expiry within policy, and
// consistent snapshots. cur is nil for a new repository.
func CheckRoot(shard string, shards int, cur, proposed *tufmeta.Root, env Env) Decision {
	role := "root of shard " + shard
	want := int64(1)
	if cur != nil {
		want = cur.Signed.Version + 1
	}
	if proposed.Signed.Type != metadata.ROOT {
		return reject("%s: metadata type is %q", role, proposed.Signed.Type)
	}
	if proposed.Signed.Version != want {
		d := reject("")
		d.Reason = &Conflict{Role: role, Proposed: proposed.Signed.Version, Current: want - 1}
		return d
	}
	if !proposed.Signed.ConsistentSnapshot {
		return reject("%s: consistent snapshots must stay on", role)
	}
	if err := env.Policy.CheckExpiry(layout.RoleRoot, proposed.Signed.Expires, env.Now); err != nil {
		return reject("%s: %v", role, err)
	}
	if err := trust.CheckIdentity("root", proposed.Signed.UnrecognizedFields, shard, shards); err != nil {
		return reject("%v", err)
	}
	for _, r := range []string{layout.RoleRoot, layout.RoleTargets, layout.RoleSnapshot, layout.RoleTimestamp} {
		d, err := tufmeta.RootDelegation(proposed, r)
		if err != nil {
			return reject("%s: %v", role, err)
		}
		if err := CheckKeys(d.Keys, d.KeyIDs, d.Threshold); err != nil {
			return reject("%s: %s keys: %v", role, r, err)
		}
	}
	if len(proposed.Signed.Roles) != 4 {
		return reject("%s: must name exactly the four top-level roles", role)
	}
	if _, err := tufmeta.SplitTimestamp(proposed); err != nil {
		return reject("%s: %v", role, err)
	}
	newRoot, _ := tufmeta.RootDelegation(proposed, layout.RoleRoot)
	nc, err := tufmeta.Count(proposed, newRoot)
	if err != nil {
		return reject("%s: %v", role, err)
	}
	sigs := nc
	if cur != nil {
		oldRoot, err := tufmeta.RootDelegation(cur, layout.RoleRoot)
		if err != nil {
			return reject("%s: %v", role, err)
		}
		oc, err := tufmeta.Count(proposed, oldRoot)
		if err != nil {
			return reject("%s: %v", role, err)
		}
		if err := onlyKnown(role, oc, nc, oldRoot, newRoot); err != nil {
			return reject("%v", err)
		}
		if !oc.Met() {
			return Decision{Outcome: Pending, Sigs: oc}
		}
	} else if len(nc.Bad)+len(nc.Unknown) > 0 {
		return reject("%s carries a signature that is not by a root key or does not verify", role)
	}
	if !nc.Met() {
		return Decision{Outcome: Pending, Sigs: sigs}
	}
	return Decision{Outcome: Accept, Sigs: sigs}
}

// onlyKnown rejects signatures that verify under neither delegation.
func onlyKnown(role string, a, b tufmeta.SigCount, da, db tufmeta.Delegation) error {
	if len(a.Bad)+len(b.Bad) > 0 {
		return fmt.Errorf("%s carries a signature that does not verify: it was changed after signing", role)
	}
	for _, id := range a.Unknown {
		if _, ok := db.Keys[id]; !ok {
			return fmt.Errorf("%s is signed by key %s, which it does not name", role, short(id))
		}
	}
	return nil
}

// CheckTopTargets decides on a proposed top-level targets role of a shard,
// against the root that will be in force (the proposed one in a rotation).
// It must delegate exactly claimed.<shard> then new.<shard>, every project
// path, not terminating, and name the shard.
func CheckTopTargets(shard string, shards int, root *tufmeta.Root, cur, proposed *tufmeta.Targets, env Env) Decision {
	role := "targets of shard " + shard
	if d := checkCommon(role, proposed, cur, env); d != nil {
		if cur == nil && proposed.Signed.Version == 1 {
			// a new repository: checkCommon's expiry rule is the project's
			d = nil
		}
		if d != nil {
			return *d
		}
	}
	if err := env.Policy.CheckExpiry(layout.RoleTargets, proposed.Signed.Expires, env.Now); err != nil {
		return reject("%s: %v", role, err)
	}
	if err := trust.CheckIdentity(layout.RoleTargets, proposed.Signed.UnrecognizedFields, shard, shards); err != nil {
		return reject("%v", err)
	}
	if len(proposed.Signed.Targets) != 0 {
		return reject("%s lists files; only project roles list files", role)
	}
	if _, err := tufmeta.SettingsOf(proposed); err != nil {
		return reject("%s: %v", role, err)
	}
	ds := proposed.Signed.Delegations
	if ds == nil || len(ds.Roles) != 2 || ds.SuccinctRoles != nil ||
		ds.Roles[0].Name != layout.ClaimedRole(shard) || ds.Roles[1].Name != layout.NewRole(shard) {
		return reject("%s must delegate exactly %s then %s", role, layout.ClaimedRole(shard), layout.NewRole(shard))
	}
	for _, r := range ds.Roles {
		if r.Terminating || !slices.Equal(r.Paths, layout.BinPaths()) || len(r.PathHashPrefixes) > 0 {
			return reject("%s: the delegation to %s must cover %v and not terminate", role, r.Name, layout.BinPaths())
		}
		if err := CheckKeys(pickKeys(ds.Keys, r.KeyIDs), r.KeyIDs, r.Threshold); err != nil {
			return reject("%s: delegation to %s: %v", role, r.Name, err)
		}
	}
	del, err := tufmeta.RootDelegation(root, layout.RoleTargets)
	if err != nil {
		return reject("%s: %v", role, err)
	}
	return signatures(role, proposed, del, "repository's targets keys (as root names them)")
}

func pickKeys(all map[string]*metadata.Key, ids []string) map[string]*metadata.Key {
	out := map[string]*metadata.Key{}
	for _, id := range ids {
		if k, ok := all[id]; ok {
			out[id] = k
		}
	}
	return out
}

// CheckClaimedBin decides on a proposed claimed bin of a shard, against the
// top-level targets in force. Every delegation must be a project of this
// shard, terminating, with the project's paths.
func CheckClaimedBin(shard string, shards int, targets *tufmeta.Targets, cur, proposed *tufmeta.Targets, env Env) Decision {
	role := layout.ClaimedRole(shard)
	if d := checkCommon(role, proposed, cur, env); d != nil {
		return *d
	}
	if err := trust.CheckIdentity(role, proposed.Signed.UnrecognizedFields, shard, shards); err != nil {
		return reject("%v", err)
	}
	if len(proposed.Signed.Targets) != 0 {
		return reject("%s lists files; only project roles list files", role)
	}
	if cur == nil && proposed.Signed.Delegations != nil && len(proposed.Signed.Delegations.Roles) > 0 {
		return reject("%s: a new repository's claimed bin must be empty; projects are claimed after they are created", role)
	}
	if err := CheckBinDelegations(shard, shards, proposed); err != nil {
		return reject("%s: %v", role, err)
	}
	del, _, err := tufmeta.TargetsDelegation(targets, role)
	if err != nil {
		return reject("%s: %v", role, err)
	}
	return signatures(role, proposed, del, "repository's claim keys")
}

// CheckBinDelegations checks every delegation of a bin: a normalized project
// of this shard, delegated once, terminating, with its own paths.
func CheckBinDelegations(shard string, shards int, bin *tufmeta.Targets) error {
	ds := bin.Signed.Delegations
	if ds == nil {
		return nil
	}
	if ds.SuccinctRoles != nil {
		return fmt.Errorf("succinct delegations are not used")
	}
	seen := map[string]bool{}
	for _, r := range ds.Roles {
		if !layout.IsNormalizedProject(r.Name) {
			return fmt.Errorf("delegates %q, which is not a normalized project name", r.Name)
		}
		if layout.ShardOf(r.Name, shards) != shard {
			return fmt.Errorf("delegates project %s, which belongs to shard %s", r.Name, layout.ShardOf(r.Name, shards))
		}
		if seen[r.Name] {
			return fmt.Errorf("delegates project %s twice", r.Name)
		}
		seen[r.Name] = true
		if !r.Terminating || !slices.Equal(r.Paths, layout.DelegationPaths(r.Name)) || len(r.PathHashPrefixes) > 0 {
			return fmt.Errorf("the delegation to %s must be terminating with paths %v", r.Name, layout.DelegationPaths(r.Name))
		}
		if _, marked := r.UnrecognizedFields[tufmeta.BlockedField]; marked {
			if blocked, _, _ := tufmeta.Blocked(bin, r.Name); !blocked {
				return fmt.Errorf("the block of %s must delegate to the key nobody holds (%s)", r.Name, tufmeta.BlockedKeyID(r.Name))
			}
		}
		if err := CheckKeys(pickKeys(ds.Keys, r.KeyIDs), r.KeyIDs, r.Threshold); err != nil {
			return fmt.Errorf("delegation to %s: %w", r.Name, err)
		}
	}
	return nil
}
