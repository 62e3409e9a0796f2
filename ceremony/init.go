// Package ceremony builds and signs the offline metadata of a repository:
// every shard's root, top-level targets and claimed bin. It is what an admin
// runs with the offline keys; `hallmark serve --dev` runs it with
// development keys. It never sees the online secret, only the online public
// keys of each shard.
package ceremony

import (
	"fmt"
	"slices"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"hallmark.dev/hallmark/layout"
	"hallmark.dev/hallmark/signing"
	"hallmark.dev/hallmark/trust"
	"hallmark.dev/hallmark/tufmeta"
	"hallmark.dev/hallmark/witness"
)

// Online roles whose keys the server derives per shard.
const (
	OnlineTimestamp = layout.RoleTimestamp
	OnlineSnapshot  = layout.RoleSnapshot
	OnlineNew       = "new"
)

// Keys are the public keys and thresholds of the offline roles.
type Keys struct {
	Root             []signing.PublicKey
	RootThreshold    int
	Targets          []signing.PublicKey
	TargetsThreshold int
	Claim            []signing.PublicKey
	ClaimThreshold   int
}

// Params describe a repository to initialize.
type Params struct {
	Shards int
	Keys   Keys
	// Online returns the public online key of a role of a shard.
	Online func(shard, role string) signing.PublicKey
	// Witnesses co-sign every shard's timestamp; WitnessThreshold is the
	// timestamp role's threshold over the online key and the witnesses'
	// keys (0: DefaultTimestampThreshold).
	Witnesses        []*witness.Keys
	WitnessThreshold int
	Policy           layout.Policy
	Now              time.Time
}

// DefaultTimestampThreshold is the timestamp threshold for n witnesses:
// the online key and a majority of the witnesses, so one witness may be
// down and no single witness can sign a rollback with the online key.
func DefaultTimestampThreshold(n int) int {
	if n == 0 {
		return 1
	}
	return 1 + n/2 + 1
}

// WitnessesOf returns the root entries and this shard's keys of witnesses.
func WitnessesOf(ws []*witness.Keys, shard string) ([]tufmeta.Witness, []signing.PublicKey) {
	var entries []tufmeta.Witness
	var keys []signing.PublicKey
	for _, w := range ws {
		k := w.Key(shard)
		entries = append(entries, tufmeta.Witness{Name: w.Name, URL: w.URL, KeyID: k.ID()})
		keys = append(keys, k)
	}
	return entries, keys
}

// Signers hold the private offline keys that sign at initialization.
type Signers struct {
	Root, Targets, Claim []*signing.Key
}

// Shard is the signed offline metadata of one shard, version 1.
type Shard struct {
	ID      string
	Root    *tufmeta.Root
	Targets *tufmeta.Targets
	Claimed *tufmeta.Targets
}

// Init builds and signs the initial offline metadata of every shard, and
// returns it with the repository's trust file.
func Init(p Params, s Signers) ([]Shard, *trust.File, error) {
	if err := layout.CheckShardCount(p.Shards); err != nil {
		return nil, nil, err
	}
	for _, c := range []struct {
		name string
		keys []signing.PublicKey
		t    int
		n    int
	}{
		{"root", p.Keys.Root, p.Keys.RootThreshold, distinct(s.Root)},
		{"targets", p.Keys.Targets, p.Keys.TargetsThreshold, distinct(s.Targets)},
		{"claim", p.Keys.Claim, p.Keys.ClaimThreshold, distinct(s.Claim)},
	} {
		if c.t < 1 || c.t > len(c.keys) {
			return nil, nil, fmt.Errorf("%s threshold %d must be between 1 and the number of %s keys (%d)", c.name, c.t, c.name, len(c.keys))
		}
		if c.n < c.t {
			return nil, nil, fmt.Errorf("%d distinct %s keys can sign but the threshold is %d", c.n, c.name, c.t)
		}
	}
	for _, c := range []struct {
		name    string
		keys    []signing.PublicKey
		signers []*signing.Key
	}{{"root", p.Keys.Root, s.Root}, {"targets", p.Keys.Targets, s.Targets}, {"claim", p.Keys.Claim, s.Claim}} {
		for _, k := range c.signers {
			if !slices.ContainsFunc(c.keys, func(pk signing.PublicKey) bool { return pk.ID() == k.ID() }) {
				return nil, nil, fmt.Errorf("signing key %s is not one of the %s keys", k.Public().ShortID(), c.name)
			}
		}
	}
	shards, tf, err := Build(p)
	if err != nil {
		return nil, nil, err
	}
	for _, sh := range shards {
		if err := tufmeta.Sign(sh.Root, s.Root...); err != nil {
			return nil, nil, err
		}
		if err := tufmeta.Sign(sh.Targets, s.Targets...); err != nil {
			return nil, nil, err
		}
		if err := tufmeta.Sign(sh.Claimed, s.Claim...); err != nil {
			return nil, nil, err
		}
	}
	return shards, tf, nil
}

// Build builds the unsigned initial offline metadata of every shard and the
// repository's trust file. Admins sign it, possibly on several machines.
func Build(p Params) ([]Shard, *trust.File, error) {
	if err := layout.CheckShardCount(p.Shards); err != nil {
		return nil, nil, err
	}
	names := map[string]bool{}
	for _, w := range p.Witnesses {
		if w.Shards != p.Shards {
			return nil, nil, fmt.Errorf("witness %s exported keys for %d shards; this repository has %d: export them again with `hallmark witness key --shards %d`", w.Name, w.Shards, p.Shards, p.Shards)
		}
		if names[w.Name] {
			return nil, nil, fmt.Errorf("witness %s is named twice", w.Name)
		}
		names[w.Name] = true
	}
	if p.WitnessThreshold == 0 {
		p.WitnessThreshold = DefaultTimestampThreshold(len(p.Witnesses))
	}
	var out []Shard
	for _, id := range layout.ShardIDs(p.Shards) {
		sh, err := buildShard(p, id)
		if err != nil {
			return nil, nil, err
		}
		out = append(out, sh)
	}
	tf := &trust.File{Shards: p.Shards, RootKeys: map[string]*metadata.Key{}, RootThreshold: p.Keys.RootThreshold, RootVersion: 1}
	for _, k := range p.Keys.Root {
		tf.RootKeys[k.ID()] = k.TUF()
	}
	return out, tf, nil
}

func buildShard(p Params, id string) (Shard, error) {
	ident := trust.Identity{Shard: id, Shards: p.Shards}

	root := metadata.Root(p.Policy.ExpiresAt(layout.RoleRoot, p.Now))
	root.Signed.Keys = map[string]*metadata.Key{}
	root.Signed.Roles = map[string]*metadata.Role{}
	add := func(role string, keys []signing.PublicKey, threshold int) {
		r := &metadata.Role{KeyIDs: []string{}, Threshold: threshold}
		for _, k := range keys {
			root.Signed.Keys[k.ID()] = k.TUF()
			r.KeyIDs = append(r.KeyIDs, k.ID())
		}
		root.Signed.Roles[role] = r
	}
	add(layout.RoleRoot, p.Keys.Root, p.Keys.RootThreshold)
	add(layout.RoleTargets, p.Keys.Targets, p.Keys.TargetsThreshold)
	add(layout.RoleSnapshot, []signing.PublicKey{p.Online(id, OnlineSnapshot)}, 1)
	trust.SetIdentity(&root.Signed.UnrecognizedFields, ident)
	entries, wkeys := WitnessesOf(p.Witnesses, id)
	if err := tufmeta.SetTimestampKeys(root, []signing.PublicKey{p.Online(id, OnlineTimestamp)}, entries, wkeys, p.WitnessThreshold); err != nil {
		return Shard{}, err
	}

	targets := metadata.Targets(p.Policy.ExpiresAt(layout.RoleTargets, p.Now))
	claim := tufmeta.NewDelegation(p.Keys.Claim, p.Keys.ClaimThreshold)
	online := tufmeta.NewDelegation([]signing.PublicKey{p.Online(id, OnlineNew)}, 1)
	targets.Signed.Delegations = &metadata.Delegations{Keys: map[string]*metadata.Key{}}
	// Order matters: a client asks claimed.<shard> first, and a claimed
	// project's delegation is terminating, so new.<shard> (online) is never
	// consulted for it.
	AddBinDelegation(targets.Signed.Delegations, layout.ClaimedRole(id), claim)
	AddBinDelegation(targets.Signed.Delegations, layout.NewRole(id), online)
	trust.SetIdentity(&targets.Signed.UnrecognizedFields, ident)
	settings := layout.DefaultSettings()
	settings.Expiry = p.Policy
	tufmeta.SetSettings(targets, settings)

	claimed := metadata.Targets(p.Policy.ExpiresAt(layout.ClaimedRole(id), p.Now))
	trust.SetIdentity(&claimed.Signed.UnrecognizedFields, ident)
	return Shard{ID: id, Root: root, Targets: targets, Claimed: claimed}, nil
}

// AddBinDelegation appends a non-terminating delegation of every project path
// to a bin role.
func AddBinDelegation(d *metadata.Delegations, role string, del tufmeta.Delegation) {
	for id, k := range del.Keys {
		d.Keys[id] = k
	}
	d.Roles = append(d.Roles, metadata.DelegatedRole{
		Name: role, KeyIDs: del.KeyIDs, Threshold: del.Threshold,
		Terminating: false, Paths: layout.BinPaths(),
	})
}

// distinct counts the different keys among signers.
func distinct(signers []*signing.Key) int {
	ids := map[string]bool{}
	for _, k := range signers {
		ids[k.ID()] = true
	}
	return len(ids)
}
