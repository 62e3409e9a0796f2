package validation

import (
	"fmt"

	"hallmark.dev/hallmark/layout"
	"hallmark.dev/hallmark/tufmeta"
)

// checkOwnerChange decides on an owners role that declares an owner set
// other than the one its bin delegation names: a threshold of the current
// owners and a threshold of the declared owners must both sign.
func checkOwnerChange(role string, proposed *tufmeta.Targets, current, declared tufmeta.Delegation) Decision {
	if err := CheckKeys(declared.Keys, declared.KeyIDs, declared.Threshold); err != nil {
		return reject("%s: declared owners: %v", role, err)
	}
	oldC, err := tufmeta.Count(proposed, current)
	if err != nil {
		return reject("%s: %v", role, err)
	}
	newC, err := tufmeta.Count(proposed, declared)
	if err != nil {
		return reject("%s: %v", role, err)
	}
	for _, id := range oldC.Unknown {
		if _, isNew := declared.Keys[id]; !isNew {
			return reject("%s is signed by key %s, which is neither a current nor a new owner", role, short(id))
		}
	}
	if len(oldC.Bad)+len(newC.Bad) > 0 {
		return reject("%s carries a signature that does not verify; the metadata was changed after signing", role)
	}
	// Report the count that still lacks signatures.
	sigs := oldC
	if oldC.Met() {
		sigs = newC
	}
	if oldC.Met() && newC.Met() {
		return Decision{Outcome: Accept, Sigs: sigs, OwnerChange: &declared}
	}
	return Decision{Outcome: Pending, Sigs: sigs, OwnerChange: &declared}
}

// CheckReleasesStillValid returns an error if the published releases role
// would no longer verify under a new owners role: a change of maintainers or
// of the releases threshold must come with a releases role re-signed by the
// new maintainers, or downloaders would refuse the project.
func CheckReleasesStillValid(project string, owners, releases *tufmeta.Targets) error {
	if releases == nil {
		return nil
	}
	del, _, err := tufmeta.TargetsDelegation(owners, layout.ReleasesRole(project))
	if err != nil {
		return err
	}
	c, err := tufmeta.Count(releases, del)
	if err != nil {
		return err
	}
	if !c.Met() {
		return fmt.Errorf("the published releases are signed by %d of the %d maintainers the change requires; re-sign them with the new maintainers' keys in the same change", len(c.Valid), del.Threshold)
	}
	return nil
}

// CheckProposers checks who proposed a change that is not complete yet (a
// pending change): an owners role must carry a signature of a current
// owner; a releases role must carry a signature of a current maintainer
// (as the published owners role names them) — unless it only re-signs the
// published releases (same files, same index) as part of an owner-signed
// owners change. So nobody but the project's own members can queue a
// change for others to co-sign, and nothing can ride along on a member's
// signature of another role.
func CheckProposers(project string, owners tufmeta.Delegation, published, releases, proposedOwners, proposedReleases *tufmeta.Targets) error {
	ownerSigned := false
	if proposedOwners != nil {
		c, err := tufmeta.Count(proposedOwners, owners)
		if err != nil || len(c.Valid) == 0 {
			return fmt.Errorf("the owners change carries no signature of a current owner of %s", project)
		}
		ownerSigned = true
	}
	if proposedReleases == nil {
		return nil
	}
	if published != nil {
		if d, _, err := tufmeta.TargetsDelegation(published, layout.ReleasesRole(project)); err == nil {
			if c, err := tufmeta.Count(proposedReleases, d); err == nil && len(c.Valid) > 0 {
				return nil
			}
		}
	}
	if ownerSigned && releases != nil && sameTargets(releases, proposedReleases) {
		return nil // a re-signature of the published releases
	}
	return fmt.Errorf("the releases change carries no signature of a current maintainer of %s", project)
}

func sameTargets(a, b *tufmeta.Targets) bool {
	if len(a.Signed.Targets) != len(b.Signed.Targets) {
		return false
	}
	for p, t := range a.Signed.Targets {
		u, ok := b.Signed.Targets[p]
		if !ok || !t.Equal(*u) {
			return false
		}
	}
	return true
}
