package ceremony

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"hallmark.dev/hallmark/layout"
	"hallmark.dev/hallmark/signing"
	"hallmark.dev/hallmark/tufmeta"
)

// OnlineKeys are the public online keys of every shard, as the server
// exports them for the admins' init ceremony: the online secret itself
// never leaves the server.
type OnlineKeys struct {
	Shards int `json:"shards"`
	// Keys maps shard id → role ("timestamp", "snapshot", "new") → public
	// key in the one-line form.
	Keys map[string]map[string]string `json:"keys"`
}

// OnlineRoles are the roles signed with online keys in every shard.
var OnlineRoles = []string{OnlineTimestamp, OnlineSnapshot, OnlineNew}

// ExportOnline derives the public online keys of every shard.
func ExportOnline(shards int, derive func(shard, role string) (*signing.Key, error)) (*OnlineKeys, error) {
	out := &OnlineKeys{Shards: shards, Keys: map[string]map[string]string{}}
	for _, id := range layout.ShardIDs(shards) {
		out.Keys[id] = map[string]string{}
		for _, r := range OnlineRoles {
			k, err := derive(id, r)
			if err != nil {
				return nil, err
			}
			out.Keys[id][r] = k.Public().String()
		}
	}
	return out, nil
}

// ParseOnline decodes exported online keys and checks they cover every shard.
func ParseOnline(data []byte) (*OnlineKeys, error) {
	var o OnlineKeys
	if err := json.Unmarshal(data, &o); err != nil {
		return nil, fmt.Errorf("not an online keys file: %w", err)
	}
	if err := layout.CheckShardCount(o.Shards); err != nil {
		return nil, err
	}
	for _, id := range layout.ShardIDs(o.Shards) {
		for _, r := range OnlineRoles {
			if _, err := signing.ParsePublicKey(o.Keys[id][r]); err != nil {
				return nil, fmt.Errorf("online keys: shard %s %s: %w", id, r, err)
			}
		}
	}
	return &o, nil
}

// Key returns the public online key of a role of a shard.
func (o *OnlineKeys) Key(shard, role string) signing.PublicKey {
	k, _ := signing.ParsePublicKey(o.Keys[shard][role])
	return k
}

// Fingerprint identifies a set of online public keys, so the admins can
// check that a rotation names the keys the operator prepared.
func (o *OnlineKeys) Fingerprint() string {
	ids := map[string]map[string]string{} // labels are not part of a key
	for shard, roles := range o.Keys {
		ids[shard] = map[string]string{}
		for role, s := range roles {
			pk, _ := signing.ParsePublicKey(s)
			ids[shard][role] = pk.ID()
		}
	}
	b, _ := json.Marshal(struct {
		Shards int                          `json:"shards"`
		Keys   map[string]map[string]string `json:"keys"`
	}{o.Shards, ids}) // maps encode with sorted keys
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// OnlineOf reads the online public keys that every shard's roots name, from
// the changes of a bundle that sets them all (an online key rotation); ok
// is false when the bundle does not name them for every shard.
func OnlineOf(b *Bundle) (*OnlineKeys, bool) {
	o := &OnlineKeys{Shards: b.Shards, Keys: map[string]map[string]string{}}
	for _, c := range b.Changes {
		r, err := c.Decode()
		if err != nil || r.Root == nil || r.Targets == nil {
			return nil, false
		}
		o.Keys[c.Shard] = map[string]string{}
		for _, role := range []string{OnlineTimestamp, OnlineSnapshot} {
			d, err := tufmeta.RootDelegation(r.Root, role)
			if err != nil || len(d.KeyIDs) != 1 {
				return nil, false
			}
			pk, err := signing.PublicFromTUF(d.Keys[d.KeyIDs[0]])
			if err != nil {
				return nil, false
			}
			o.Keys[c.Shard][role] = pk.String()
		}
		d, _, err := tufmeta.TargetsDelegation(r.Targets, layout.NewRole(c.Shard))
		if err != nil || len(d.KeyIDs) != 1 {
			return nil, false
		}
		pk, err := signing.PublicFromTUF(d.Keys[d.KeyIDs[0]])
		if err != nil {
			return nil, false
		}
		o.Keys[c.Shard][OnlineNew] = pk.String()
	}
	return o, len(o.Keys) == b.Shards
}
