package ceremony

import (
	"encoding/json"
	"fmt"

	"hallmark.dev/hallmark/layout"
	"hallmark.dev/hallmark/signing"
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
