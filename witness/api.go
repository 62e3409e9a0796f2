package witness

import (
	"encoding/json"
	"fmt"
	"time"

	"hallmark.dev/hallmark/layout"
	"hallmark.dev/hallmark/signing"
)

// The witness's HTTP API. Every body is JSON; byte fields are base64.
const (
	// PathCosign takes a CosignRequest by POST and answers a CosignResponse.
	PathCosign = "/v1/cosign"
	// PathShard, followed by a shard id, answers the shard's Status.
	PathShard = "/v1/shards/"
	// PathKeys answers the witness's Keys.
	PathKeys = "/v1/keys"
)

// MaxRequestBytes bounds a co-sign request: a batch of snapshots.
const MaxRequestBytes = 64 << 20

// CosignRequest asks for co-signatures of several shards' timestamps in one
// round trip (the server batches the shards that publish together).
type CosignRequest struct {
	Requests []Request `json:"requests"`
}

// Result is the witness's answer for one shard: a signature, or the reason
// it refused.
type Result struct {
	Shard string `json:"shard"`
	// RootVersion is the newest root of the shard the witness knows: the
	// server sends only newer roots next time.
	RootVersion int64  `json:"root_version"`
	KeyID       string `json:"keyid,omitempty"`
	Signature   []byte `json:"sig,omitempty"`
	Error       string `json:"error,omitempty"`
}

// CosignResponse answers a CosignRequest, one Result per request, in order.
type CosignResponse struct {
	Results []Result `json:"results"`
}

// Status is what a witness says of one shard: what it co-signed last.
type Status struct {
	Shard            string    `json:"shard"`
	RootVersion      int64     `json:"root_version"`
	TimestampVersion int64     `json:"timestamp_version"`
	SnapshotVersion  int64     `json:"snapshot_version"`
	Updated          time.Time `json:"updated"`
	// Cosigned is the last co-signed timestamp, carrying the witness's
	// signature: proof of what the witness signed, whoever relays it.
	Cosigned []byte `json:"cosigned"`
}

// Keys is a witness's public identity, as `hallmark witness key` writes it
// for the admins: its name, where it is reached, and its key for every shard.
type Keys struct {
	Name   string            `json:"name"`
	URL    string            `json:"url"`
	Shards int               `json:"shards"`
	Keys   map[string]string `json:"keys"` // shard id → one-line public key
}

// ParseKeys decodes a witness keys file and checks it covers every shard.
func ParseKeys(b []byte) (*Keys, error) {
	var k Keys
	if err := json.Unmarshal(b, &k); err != nil {
		return nil, fmt.Errorf("not a witness keys file (as `hallmark witness key` writes it): %w", err)
	}
	if err := CheckName(k.Name); err != nil {
		return nil, err
	}
	if k.URL == "" {
		return nil, fmt.Errorf("witness keys file of %q names no URL: export it again with `hallmark witness key --url URL`", k.Name)
	}
	if err := layout.CheckShardCount(k.Shards); err != nil {
		return nil, fmt.Errorf("witness keys file: %w", err)
	}
	for _, id := range layout.ShardIDs(k.Shards) {
		if _, err := signing.ParsePublicKey(k.Keys[id]); err != nil {
			return nil, fmt.Errorf("witness keys file of %q: shard %s: %w", k.Name, id, err)
		}
	}
	return &k, nil
}

// Key returns the witness's public key for a shard.
func (k *Keys) Key(shard string) signing.PublicKey {
	p, _ := signing.ParsePublicKey(k.Keys[shard])
	return p
}

// CheckName refuses witness names that would be confusing in root
// metadata and in messages.
func CheckName(name string) error {
	if name == "" || len(name) > 64 {
		return fmt.Errorf("witness name %q must be 1 to 64 characters", name)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '.') {
			return fmt.Errorf("witness name %q may hold only lower-case letters, digits, '-' and '.' (e.g. a domain name)", name)
		}
	}
	return nil
}
