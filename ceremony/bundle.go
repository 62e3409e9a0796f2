package ceremony

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"hallmark.dev/hallmark/api"
	"hallmark.dev/hallmark/trust"
	"hallmark.dev/hallmark/tufmeta"
)

// BundleFormat identifies the bundle file format.
const BundleFormat = "hallmark-ceremony-v1"

// Kinds of ceremony.
const (
	KindInit    = "init"
	KindClaim   = "claim"
	KindBlock   = "block"
	KindUnblock = "unblock"
	KindRotate  = "rotate"
	KindRenew   = "renew"
	KindConfig  = "config"
)

// Bundle is a ceremony in progress, as a file admins pass around.
type Bundle struct {
	Format  string    `json:"format"`
	Kind    string    `json:"kind"`
	Shards  int       `json:"shards"`
	Created time.Time `json:"created"`
	// Summary is how the proposer's tool explained the ceremony. It is
	// informational: every signer's tool explains it again from verified
	// state before signing.
	Summary []string      `json:"summary"`
	Changes []ShardChange `json:"changes"`
	// Trust is the repository's new trust summary when root keys change.
	Trust *trust.File `json:"trust,omitempty"`
}

// ShardChange is the proposed offline roles of one shard.
type ShardChange struct {
	Shard   string          `json:"shard"`
	Root    json.RawMessage `json:"root,omitempty"`
	Targets json.RawMessage `json:"targets,omitempty"`
	Claimed json.RawMessage `json:"claimed,omitempty"`
	// Claims are the projects the claimed bin takes over, with the
	// new-bin delegation the proposer's tool verified.
	Claims map[string]api.Owners `json:"claims,omitempty"`
}

// Roles is a decoded ShardChange.
type Roles struct {
	Shard   string
	Root    *tufmeta.Root
	Targets *tufmeta.Targets
	Claimed *tufmeta.Targets
	Claims  map[string]tufmeta.Delegation
}

// Decode parses the roles of a shard change.
func (c ShardChange) Decode() (*Roles, error) {
	r := &Roles{Shard: c.Shard, Claims: map[string]tufmeta.Delegation{}}
	var err error
	if len(c.Root) > 0 {
		if r.Root, err = tufmeta.Decode[metadata.RootType](c.Root); err != nil {
			return nil, fmt.Errorf("shard %s root: %w", c.Shard, err)
		}
	}
	if len(c.Targets) > 0 {
		if r.Targets, err = tufmeta.Decode[metadata.TargetsType](c.Targets); err != nil {
			return nil, fmt.Errorf("shard %s targets: %w", c.Shard, err)
		}
	}
	if len(c.Claimed) > 0 {
		if r.Claimed, err = tufmeta.Decode[metadata.TargetsType](c.Claimed); err != nil {
			return nil, fmt.Errorf("shard %s claimed bin: %w", c.Shard, err)
		}
	}
	for p, o := range c.Claims {
		r.Claims[p] = tufmeta.Delegation{Keys: o.Keys, KeyIDs: o.KeyIDs, Threshold: o.Threshold}
	}
	return r, nil
}

// Encode stores decoded roles back into the change.
func (c *ShardChange) Encode(r *Roles) error {
	var err error
	if r.Root != nil {
		if c.Root, err = tufmeta.Encode(r.Root); err != nil {
			return err
		}
	}
	if r.Targets != nil {
		if c.Targets, err = tufmeta.Encode(r.Targets); err != nil {
			return err
		}
	}
	if r.Claimed != nil {
		if c.Claimed, err = tufmeta.Encode(r.Claimed); err != nil {
			return err
		}
	}
	if len(r.Claims) > 0 {
		c.Claims = map[string]api.Owners{}
		for p, d := range r.Claims {
			c.Claims[p] = api.Owners{Keys: d.Keys, KeyIDs: d.KeyIDs, Threshold: d.Threshold}
		}
	}
	return nil
}

// LoadBundle reads a bundle file.
func LoadBundle(path string) (*Bundle, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseBundle(data)
}

// ParseBundle decodes a bundle.
func ParseBundle(data []byte) (*Bundle, error) {
	var b Bundle
	if err := json.Unmarshal(data, &b); err != nil {
		return nil, fmt.Errorf("not a ceremony bundle: %w", err)
	}
	if b.Format != BundleFormat {
		return nil, errors.New("not a ceremony bundle: unknown format")
	}
	if len(b.Changes) == 0 {
		return nil, errors.New("the ceremony changes nothing")
	}
	return &b, nil
}

// Save writes the bundle to path atomically.
func (b *Bundle) Save(path string) error {
	data, err := json.MarshalIndent(b, "", " ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// CheckTrust checks that a bundle's trust summary — what every new user
// will pin — says exactly what its roots say: the shard count, the root
// keys and threshold, and each shard's root version. A bundle without a
// trust summary passes.
func CheckTrust(b *Bundle) error {
	if b.Trust == nil {
		return nil
	}
	if b.Trust.Shards != b.Shards {
		return fmt.Errorf("the trust summary names %d shards; the ceremony is for %d", b.Trust.Shards, b.Shards)
	}
	seen := map[string]bool{}
	for _, c := range b.Changes {
		if seen[c.Shard] {
			return fmt.Errorf("the ceremony changes shard %s twice", c.Shard)
		}
		seen[c.Shard] = true
		r, err := c.Decode()
		if err != nil {
			return err
		}
		if r.Root == nil {
			return fmt.Errorf("the ceremony has a trust summary but no new root for shard %s", c.Shard)
		}
		d, err := tufmeta.RootDelegation(r.Root, "root")
		if err != nil {
			return err
		}
		if d.Threshold != b.Trust.RootThreshold || len(d.KeyIDs) != len(b.Trust.RootKeys) {
			return fmt.Errorf("the trust summary's root keys differ from shard %s's root", c.Shard)
		}
		for _, id := range d.KeyIDs {
			k, ok := b.Trust.RootKeys[id]
			if !ok || k.Value.PublicKey != d.Keys[id].Value.PublicKey {
				return fmt.Errorf("the trust summary's root keys differ from shard %s's root", c.Shard)
			}
		}
		if v := b.Trust.ShardRootVersion(c.Shard); v != r.Root.Signed.Version {
			return fmt.Errorf("the trust summary says shard %s starts at root version %d; its root is version %d", c.Shard, v, r.Root.Signed.Version)
		}
	}
	if len(seen) != b.Shards {
		// The trust summary speaks for every shard: a ceremony that changes
		// it must change every shard's root.
		return fmt.Errorf("a ceremony with a trust summary must cover every one of the %d shards", b.Shards)
	}
	return nil
}
