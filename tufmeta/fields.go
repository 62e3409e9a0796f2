package tufmeta

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"hallmark.dev/hallmark/layout"
)

// Signed custom fields of a project's owners role.
const (
	// OwnersField declares the project's owner keys and threshold. When it
	// differs from the delegation that names the owners role, the role is an
	// owner change, valid only with a threshold of both the current and the
	// declared owners (as TUF requires of a root rotation).
	OwnersField = "x-hallmark-owners"
	// LabelsField maps key ids to the human labels their holders chose.
	LabelsField = "x-hallmark-labels"
)

// ownerSet is the JSON form of OwnersField.
type ownerSet struct {
	Keys      map[string]*metadata.Key `json:"keys"`
	KeyIDs    []string                 `json:"keyids"`
	Threshold int                      `json:"threshold"`
}

// DeclaredOwners returns the owner set a role declares, and whether it
// declares one.
func DeclaredOwners(md *Targets) (Delegation, bool, error) {
	raw, ok := md.Signed.UnrecognizedFields[OwnersField]
	if !ok {
		return Delegation{}, false, nil
	}
	b, err := json.Marshal(raw)
	if err != nil {
		return Delegation{}, true, err
	}
	var s ownerSet
	if err := json.Unmarshal(b, &s); err != nil {
		return Delegation{}, true, fmt.Errorf("malformed %s field: %w", OwnersField, err)
	}
	return Delegation(s), true, nil
}

// SetDeclaredOwners writes the owner set into a role.
func SetDeclaredOwners(md *Targets, d Delegation) {
	if md.Signed.UnrecognizedFields == nil {
		md.Signed.UnrecognizedFields = map[string]any{}
	}
	// Store the generic JSON form so the role encodes the same way after a
	// decode round trip (signatures cover the canonical encoding).
	b, _ := json.Marshal(ownerSet(d))
	var generic any
	json.Unmarshal(b, &generic)
	md.Signed.UnrecognizedFields[OwnersField] = generic
}

// SameKeys reports whether two delegations name the same keys and threshold.
func SameKeys(a, b Delegation) bool {
	x, y := slices.Clone(a.KeyIDs), slices.Clone(b.KeyIDs)
	slices.Sort(x)
	slices.Sort(y)
	return a.Threshold == b.Threshold && slices.Equal(x, y)
}

// Labels returns the key labels an owners role records.
func Labels(md *Targets) map[string]string {
	out := map[string]string{}
	if m, ok := md.Signed.UnrecognizedFields[LabelsField].(map[string]any); ok {
		for k, v := range m {
			if s, ok := v.(string); ok {
				out[k] = s
			}
		}
	}
	return out
}

// SetLabels records key labels in an owners role, keeping earlier ones.
func SetLabels(md *Targets, labels map[string]string) {
	all := map[string]any{}
	for k, v := range Labels(md) {
		all[k] = v
	}
	for k, v := range labels {
		if v != "" {
			all[k] = v
		}
	}
	if md.Signed.UnrecognizedFields == nil {
		md.Signed.UnrecognizedFields = map[string]any{}
	}
	md.Signed.UnrecognizedFields[LabelsField] = all
}

// BlockedField marks a blocked project's delegation in the claimed bin. Its
// value records the reason and the owner set the delegation had, so that
// unblocking can restore it. The delegation itself names a key whose
// private half was thrown away, so no client can verify the project's roles
// (a delegation no key can satisfy).
const BlockedField = "x-hallmark-blocked"

// BlockedKey is the key a blocked project is delegated to: its public half
// is a hash of the project name, so nobody holds (or could have made) its
// private half, and every tool can check that a block uses it.
func BlockedKey(project string) *metadata.Key {
	sum := sha256.Sum256([]byte("hallmark: nobody holds the private half of this key; it blocks project " + project))
	k, _ := metadata.KeyFromPublicKey(ed25519.PublicKey(sum[:]))
	return k
}

// SetBlockedDelegation replaces a project's delegation in bin by a block.
func SetBlockedDelegation(bin *Targets, project, reason string, owners Delegation) error {
	key := BlockedKey(project)
	id, err := key.ID()
	if err != nil {
		return err
	}
	SetProjectDelegation(bin, project, Delegation{Keys: map[string]*metadata.Key{id: key}, KeyIDs: []string{id}, Threshold: 1})
	b, _ := json.Marshal(map[string]any{"reason": reason, "owners": ownerSet(owners)})
	var generic any
	json.Unmarshal(b, &generic)
	r := &bin.Signed.Delegations.Roles[len(bin.Signed.Delegations.Roles)-1]
	r.UnrecognizedFields = map[string]any{BlockedField: generic}
	return nil
}

// Blocked reports whether a bin blocks project, with the reason and the
// owner set the block keeps for unblocking.
func Blocked(bin *Targets, project string) (blocked bool, reason string, owners Delegation) {
	if bin == nil || bin.Signed.Delegations == nil {
		return false, "", Delegation{}
	}
	for _, r := range bin.Signed.Delegations.Roles {
		if r.Name != project {
			continue
		}
		v, ok := r.UnrecognizedFields[BlockedField]
		if !ok {
			return false, "", Delegation{}
		}
		if id, _ := BlockedKey(project).ID(); len(r.KeyIDs) != 1 || r.KeyIDs[0] != id || r.Threshold != 1 {
			// Marked blocked but delegated to some other key: not a block
			// (validation refuses such a delegation).
			return false, "", Delegation{}
		}
		var rec struct {
			Reason string   `json:"reason"`
			Owners ownerSet `json:"owners"`
		}
		b, _ := json.Marshal(v)
		json.Unmarshal(b, &rec)
		return true, rec.Reason, Delegation{Keys: rec.Owners.Keys, KeyIDs: rec.Owners.KeyIDs, Threshold: rec.Owners.Threshold}
	}
	return false, "", Delegation{}
}

// SettingsField is the signed field of every shard's top-level targets that
// holds the repository's settings (layout.Settings).
const SettingsField = "x-hallmark-settings"

// SetSettings writes the repository settings into a top-level targets role.
func SetSettings(md *Targets, s layout.Settings) {
	b, _ := json.Marshal(s)
	var generic any
	json.Unmarshal(b, &generic)
	if md.Signed.UnrecognizedFields == nil {
		md.Signed.UnrecognizedFields = map[string]any{}
	}
	md.Signed.UnrecognizedFields[SettingsField] = generic
}

// SettingsOf reads the repository settings from a top-level targets role;
// a role without them has the default settings.
func SettingsOf(md *Targets) (layout.Settings, error) {
	raw, ok := md.Signed.UnrecognizedFields[SettingsField]
	if !ok {
		return layout.DefaultSettings(), nil
	}
	b, err := json.Marshal(raw)
	if err != nil {
		return layout.Settings{}, err
	}
	return layout.ParseSettings(b)
}

// BlockedKeyID is the key id of BlockedKey(project).
func BlockedKeyID(project string) string {
	id, _ := BlockedKey(project).ID()
	return id
}
