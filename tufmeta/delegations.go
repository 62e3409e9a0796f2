package tufmeta

import (
	"slices"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"hallmark.dev/hallmark/layout"
)

// SetProjectDelegation adds or replaces, in a bin (claimed.<shard> or
// new.<shard>), the terminating delegation of a project's owners role to the
// given keys. Keys no other delegation uses are dropped.
func SetProjectDelegation(bin *Targets, project string, d Delegation) {
	RemoveDelegation(bin, layout.OwnersRole(project))
	if bin.Signed.Delegations == nil {
		bin.Signed.Delegations = &metadata.Delegations{Keys: map[string]*metadata.Key{}}
	}
	for id, k := range d.Keys {
		bin.Signed.Delegations.Keys[id] = k
	}
	bin.Signed.Delegations.Roles = append(bin.Signed.Delegations.Roles, metadata.DelegatedRole{
		Name: layout.OwnersRole(project), KeyIDs: slices.Clone(d.KeyIDs), Threshold: d.Threshold,
		Terminating: true, Paths: layout.DelegationPaths(project),
	})
}

// RemoveDelegation removes a delegated role from a targets role, and any key
// no remaining delegation uses.
func RemoveDelegation(t *Targets, role string) {
	d := t.Signed.Delegations
	if d == nil {
		return
	}
	d.Roles = slices.DeleteFunc(d.Roles, func(r metadata.DelegatedRole) bool { return r.Name == role })
	used := map[string]bool{}
	for _, r := range d.Roles {
		for _, id := range r.KeyIDs {
			used[id] = true
		}
	}
	for id := range d.Keys {
		if !used[id] {
			delete(d.Keys, id)
		}
	}
}
