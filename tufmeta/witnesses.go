package tufmeta

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"hallmark.dev/hallmark/layout"
	"hallmark.dev/hallmark/signing"
)

// WitnessesField is the signed field of a shard's root that lists the
// witnesses whose keys the root names for the timestamp role. The
// timestamp role's other keys are the server's online keys.
const WitnessesField = "x-hallmark-witnesses"

// Witness is one witness as a shard's root names it.
type Witness struct {
	// Name is the witness's own name for itself (an organization, say).
	Name string `json:"name"`
	// URL is where the server and the admins' tools reach it.
	URL string `json:"url"`
	// KeyID is the id of the witness's key for this shard.
	KeyID string `json:"keyid"`
}

// Witnesses returns the witnesses a root names, in order.
func Witnesses(root *Root) ([]Witness, error) {
	raw, ok := root.Signed.UnrecognizedFields[WitnessesField]
	if !ok {
		return nil, nil
	}
	b, err := json.Marshal(raw)
	if err != nil {
		return nil, err
	}
	var ws []Witness
	if err := json.Unmarshal(b, &ws); err != nil {
		return nil, fmt.Errorf("malformed %s field: %w", WitnessesField, err)
	}
	return ws, nil
}

// TimestampKeys is the timestamp role of a root split into the server's
// online keys and the witnesses' keys.
type TimestampKeys struct {
	Online    Delegation // the online key(s), with the threshold of the whole role
	Witnesses []Witness
	Role      Delegation // the whole role
}

// SplitTimestamp reads a root's timestamp role: which of its keys are
// witnesses' and which the server's. Every witness must be a key of the
// role, and the threshold must be more than the online keys can meet alone
// whenever there are witnesses.
func SplitTimestamp(root *Root) (TimestampKeys, error) {
	role, err := RootDelegation(root, layout.RoleTimestamp)
	if err != nil {
		return TimestampKeys{}, err
	}
	ws, err := Witnesses(root)
	if err != nil {
		return TimestampKeys{}, err
	}
	out := TimestampKeys{Role: role, Witnesses: ws, Online: Delegation{Keys: map[string]*metadata.Key{}, Threshold: role.Threshold}}
	for _, w := range ws {
		if !slices.Contains(role.KeyIDs, w.KeyID) {
			return TimestampKeys{}, fmt.Errorf("root names witness %q with key %s that the timestamp role does not list", w.Name, w.KeyID)
		}
	}
	for _, id := range role.KeyIDs {
		if slices.ContainsFunc(ws, func(w Witness) bool { return w.KeyID == id }) {
			continue
		}
		out.Online.Keys[id] = role.Keys[id]
		out.Online.KeyIDs = append(out.Online.KeyIDs, id)
	}
	if len(ws) > 0 && role.Threshold <= len(out.Online.KeyIDs) {
		return TimestampKeys{}, fmt.Errorf("timestamp threshold %d can be met by the %d online key(s) alone: witnesses would protect nothing", role.Threshold, len(out.Online.KeyIDs))
	}
	return out, nil
}

// SetTimestampKeys sets a root's timestamp role to the online keys plus
// the witnesses' keys of this shard with a threshold, and records the
// witnesses in WitnessesField. Without witnesses the threshold must be 1
// and the field is removed.
func SetTimestampKeys(root *Root, online []signing.PublicKey, witnesses []Witness, witnessKeys []signing.PublicKey, threshold int) error {
	if len(witnesses) != len(witnessKeys) {
		return fmt.Errorf("%d witnesses but %d witness keys", len(witnesses), len(witnessKeys))
	}
	total := len(online) + len(witnesses)
	switch {
	case len(witnesses) == 0 && threshold != 1:
		return fmt.Errorf("timestamp threshold %d without witnesses: it must be 1", threshold)
	case len(witnesses) > 0 && (threshold <= len(online) || threshold > total):
		return fmt.Errorf("timestamp threshold %d: with %d witness(es) it must be more than the %d online key(s) and at most %d, so that no timestamp is valid without a witness", threshold, len(witnesses), len(online), total)
	}
	// Drop the keys of the role's previous members that no other role uses.
	if old, ok := root.Signed.Roles[layout.RoleTimestamp]; ok {
		for _, id := range old.KeyIDs {
			used := false
			for name, r := range root.Signed.Roles {
				if name != layout.RoleTimestamp && slices.Contains(r.KeyIDs, id) {
					used = true
				}
			}
			if !used {
				delete(root.Signed.Keys, id)
			}
		}
	}
	r := &metadata.Role{KeyIDs: []string{}, Threshold: threshold}
	for _, k := range append(slices.Clone(online), witnessKeys...) {
		id := k.ID()
		if slices.Contains(r.KeyIDs, id) {
			return fmt.Errorf("key %s is named twice in the timestamp role", k.ShortID())
		}
		root.Signed.Keys[id] = k.TUF()
		r.KeyIDs = append(r.KeyIDs, id)
	}
	for i, w := range witnesses {
		if w.KeyID != witnessKeys[i].ID() {
			return fmt.Errorf("witness %q: key id %s does not match its key", w.Name, w.KeyID)
		}
	}
	root.Signed.Roles[layout.RoleTimestamp] = r
	if len(witnesses) == 0 {
		delete(root.Signed.UnrecognizedFields, WitnessesField)
		return nil
	}
	b, _ := json.Marshal(witnesses)
	var generic any
	json.Unmarshal(b, &generic)
	if root.Signed.UnrecognizedFields == nil {
		root.Signed.UnrecognizedFields = map[string]any{}
	}
	root.Signed.UnrecognizedFields[WitnessesField] = generic
	return nil
}
