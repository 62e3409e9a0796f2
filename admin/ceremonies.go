package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"hallmark.dev/hallmark/api"
	"hallmark.dev/hallmark/ceremony"
	"hallmark.dev/hallmark/layout"
	"hallmark.dev/hallmark/signing"
	"hallmark.dev/hallmark/trust"
	"hallmark.dev/hallmark/tufmeta"
	"hallmark.dev/hallmark/validation"
	"hallmark.dev/hallmark/witness"
)

// InitParams describe a new repository's offline keys.
type InitParams struct {
	Online           *ceremony.OnlineKeys
	Root             []signing.PublicKey
	RootThreshold    int
	Targets          []signing.PublicKey
	TargetsThreshold int
	Claim            []signing.PublicKey
	ClaimThreshold   int
	// Witnesses co-sign every shard's timestamp, WitnessThreshold
	// signatures in all (0: ceremony.DefaultTimestampThreshold).
	Witnesses        []*witness.Keys
	WitnessThreshold int
	Policy           layout.Policy
	Now              time.Time
}

// Init builds the initial metadata of every shard as a bundle and signs it
// with the keys at hand; other root key holders add theirs with Sign.
func Init(p InitParams, keys []*signing.Key) (*ceremony.Bundle, *Report, error) {
	if p.Policy == (layout.Policy{}) {
		p.Policy = layout.DefaultPolicy()
	}
	shards, tf, err := ceremony.Build(ceremony.Params{
		Shards: p.Online.Shards,
		Keys: ceremony.Keys{Root: p.Root, RootThreshold: p.RootThreshold, Targets: p.Targets, TargetsThreshold: p.TargetsThreshold,
			Claim: p.Claim, ClaimThreshold: p.ClaimThreshold},
		Online: p.Online.Key, Witnesses: p.Witnesses, WitnessThreshold: p.WitnessThreshold, Policy: p.Policy, Now: p.Now,
	})
	if err != nil {
		return nil, nil, err
	}
	for _, c := range []struct {
		what string
		keys []signing.PublicKey
		t    int
	}{{"root", p.Root, p.RootThreshold}, {"targets", p.Targets, p.TargetsThreshold}, {"claim", p.Claim, p.ClaimThreshold}} {
		if c.t < 1 || c.t > len(c.keys) {
			return nil, nil, fmt.Errorf("the %s threshold %d must be between 1 and the number of %s keys (%d)", c.what, c.t, c.what, len(c.keys))
		}
	}
	b := &ceremony.Bundle{Format: ceremony.BundleFormat, Kind: ceremony.KindInit, Shards: p.Online.Shards, Created: p.Now.UTC().Truncate(time.Second), Trust: tf}
	for _, sh := range shards {
		if err := addChange(b, &ceremony.Roles{Shard: sh.ID, Root: sh.Root, Targets: sh.Targets, Claimed: sh.Claimed}); err != nil {
			return nil, nil, err
		}
	}
	if _, err := Sign(b, Base{}, keys); err != nil {
		return nil, nil, err
	}
	rep, err := Check(b, Base{}, validation.Env{Policy: p.Policy, Now: p.Now}, nil)
	if err != nil {
		return nil, nil, err
	}
	b.Summary = rep.Lines
	return b, rep, nil
}

// Waiting lists the projects the server says wait to be claimed, and the
// claimed projects whose owners asked for an owner change. It is the
// server's unverified view; Claim verifies everything it uses.
func (t *Tool) Waiting(ctx context.Context) (*api.AdminStatus, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.Client.Repo()+"/api/v1/admin/status", nil)
	if err != nil {
		return nil, err
	}
	resp, err := t.httpClient().Do(req)
	if err != nil {
		return nil, fmt.Errorf("failed to reach the repository: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("the repository answered HTTP %d to the status request", resp.StatusCode)
	}
	var st api.AdminStatus
	if err := json.NewDecoder(io.LimitReader(resp.Body, 256<<20)).Decode(&st); err != nil {
		return nil, fmt.Errorf("the repository's status is malformed: %w", err)
	}
	return &st, nil
}

// Claim moves projects from new.<shard> to claimed.<shard>, under the claim
// keys, and applies verified owner-change requests of claimed projects
// (ownerChanges: project names). Each shard gets one new claimed bin.
func (t *Tool) Claim(ctx context.Context, projects, ownerChanges []string, keys []*signing.Key) (*ceremony.Bundle, *Report, error) {
	shards := t.Client.Trust().Shards
	byShard := map[string][]string{}
	for _, p := range append(slices.Clone(projects), ownerChanges...) {
		n, err := layout.ParseProjectName(p)
		if err != nil {
			return nil, nil, err
		}
		s := layout.ShardOf(n, shards)
		if !slices.Contains(byShard[s], n) {
			byShard[s] = append(byShard[s], n)
		}
	}
	ids := sortedKeys(byShard)
	base, err := t.Base(ctx, ids)
	if err != nil {
		return nil, nil, err
	}
	b := t.newBundle(ceremony.KindClaim)
	check := t.ownerCheck(ctx)
	var left []string
	for _, s := range ids {
		st := base[s]
		r := &ceremony.Roles{Shard: s, Claimed: t.nextTargets(st.Claimed, layout.ClaimedRole(s)), Claims: map[string]tufmeta.Delegation{}}
		changes := 0
		for _, name := range byShard[s] {
			if blocked, _, _ := tufmeta.Blocked(st.Claimed, name); blocked {
				return nil, nil, fmt.Errorf("%s is blocked; unblock it instead", name)
			}
			if cur, _, err := tufmeta.TargetsDelegation(st.Claimed, layout.OwnersRole(name)); err == nil {
				// Claimed already: apply an owner-change request, if verified.
				p, err := t.Client.Project(ctx, name)
				if err != nil {
					return nil, nil, err
				}
				declared, ok, _ := tufmeta.DeclaredOwners(p.OwnersRole)
				if !ok || tufmeta.SameKeys(declared, cur) {
					if slices.Contains(ownerChanges, name) {
						return nil, nil, fmt.Errorf("%s has no owner-change request", name)
					}
					return nil, nil, fmt.Errorf("%s is claimed already", name)
				}
				if _, err := check(name, cur, declared); err != nil {
					return nil, nil, fmt.Errorf("refusing the owner change of %s: %w", name, err)
				}
				tufmeta.SetProjectDelegation(r.Claimed, name, declared)
				changes++
				continue
			}
			d, _, err := tufmeta.TargetsDelegation(st.New, layout.OwnersRole(name))
			if err != nil {
				return nil, nil, fmt.Errorf("%s is not waiting to be claimed: %s does not delegate it", name, layout.NewRole(s))
			}
			// Lock in only owners the project's owners put there
			// themselves; the others are listed and left unclaimed.
			if _, err := t.OwnerHistory(ctx, name, d); err != nil {
				left = append(left, err.Error())
				continue
			}
			tufmeta.SetProjectDelegation(r.Claimed, name, d)
			r.Claims[name] = d
			changes++
		}
		if changes == 0 {
			continue
		}
		if err := addChange(b, r); err != nil {
			return nil, nil, err
		}
	}
	if len(b.Changes) == 0 && len(left) > 0 {
		return nil, nil, fmt.Errorf("nothing can be claimed: %s", strings.Join(left, "; "))
	}
	if err := t.checkWitnessed(ctx, base); err != nil {
		return nil, nil, err
	}
	rep, err := t.finish(ctx, b, base, keys)
	if rep != nil {
		rep.LeftUnclaimed = left
	}
	return b, rep, err
}

// checkWitnessed refuses to build on a shard state older than what its
// witnesses co-signed last: a server that holds the online keys could show
// an admin an old (but unexpired) co-signed state, and a ceremony signed on
// it would re-delegate what was since claimed. At least one witness of each
// shard that names witnesses must answer.
func (t *Tool) checkWitnessed(ctx context.Context, base Base) error {
	for _, s := range sortedKeys(base) {
		st := base[s]
		keys, err := tufmeta.SplitTimestamp(st.Root)
		if err != nil {
			return err
		}
		if len(keys.Witnesses) == 0 {
			continue
		}
		var problems []string
		answered := 0
		for _, w := range keys.Witnesses {
			ts, err := witness.FetchStatus(ctx, t.httpClient(), w, keys.Role.Keys[w.KeyID], s)
			switch {
			case err != nil:
				problems = append(problems, err.Error())
				continue
			case ts == nil:
				problems = append(problems, fmt.Sprintf("witness %s has co-signed nothing for shard %s", w.Name, s))
				continue
			case ts.Signed.Version > st.TimestampVersion:
				return fmt.Errorf("shard %s: witness %s co-signed timestamp version %d, but the server showed you version %d: you were shown old metadata, or the server is catching up; nothing was signed, try again in a minute", s, w.Name, ts.Signed.Version, st.TimestampVersion)
			}
			answered++
		}
		if answered == 0 {
			return fmt.Errorf("shard %s: no witness confirmed that you see its newest state (%s); nothing was signed", s, strings.Join(problems, "; "))
		}
	}
	return nil
}

// Block replaces a project's delegation by one no key can satisfy, in the
// claimed bin (an unclaimed project is claimed blocked), so that no client
// trusts its files even from a mirror. Unblock restores the owners.
func (t *Tool) Block(ctx context.Context, project, reason string, block bool, keys []*signing.Key) (*ceremony.Bundle, *Report, error) {
	name, err := layout.ParseProjectName(project)
	if err != nil {
		return nil, nil, err
	}
	s := layout.ShardOf(name, t.Client.Trust().Shards)
	base, err := t.Base(ctx, []string{s})
	if err != nil {
		return nil, nil, err
	}
	st := base[s]
	r := &ceremony.Roles{Shard: s, Claimed: t.nextTargets(st.Claimed, layout.ClaimedRole(s)), Claims: map[string]tufmeta.Delegation{}}
	blocked, _, owners := tufmeta.Blocked(st.Claimed, name)
	kind := ceremony.KindBlock
	switch {
	case block && blocked:
		return nil, nil, fmt.Errorf("%s is blocked already", name)
	case block:
		cur, _, err := tufmeta.TargetsDelegation(st.Claimed, layout.OwnersRole(name))
		if err != nil {
			if cur, _, err = tufmeta.TargetsDelegation(st.New, layout.OwnersRole(name)); err != nil {
				return nil, nil, fmt.Errorf("%s is not a project of this repository", name)
			}
			r.Claims[name] = cur
		}
		if err := tufmeta.SetBlockedDelegation(r.Claimed, name, reason, cur); err != nil {
			return nil, nil, err
		}
	case !blocked:
		return nil, nil, fmt.Errorf("%s is not blocked", name)
	default:
		kind = ceremony.KindUnblock
		tufmeta.SetProjectDelegation(r.Claimed, name, owners)
	}
	b := t.newBundle(kind)
	if err := addChange(b, r); err != nil {
		return nil, nil, err
	}
	rep, err := t.finish(ctx, b, base, keys)
	return b, rep, err
}

// KeyChange describes a rotation of one role's keys.
type KeyChange struct {
	Role      string // "root", "targets", "claim" or "online"
	Add       []signing.PublicKey
	Remove    []string // key ids or 8+ digit prefixes
	Threshold int      // 0 keeps it
	// Online are the server's next online keys, for Role "online" (from
	// 'hallmark admin prepare --rotate-online').
	Online *ceremony.OnlineKeys
}

// Rotate changes the keys of an offline role in every shard in one pass.
// A root change needs a threshold of the old and of the new root keys; a
// targets change re-signs targets with the new keys; a claim change
// re-signs every claimed bin with the new keys.
func (t *Tool) Rotate(ctx context.Context, kc KeyChange, keys []*signing.Key) (*ceremony.Bundle, *Report, error) {
	base, err := t.Base(ctx, nil)
	if err != nil {
		return nil, nil, err
	}
	b := t.newBundle(ceremony.KindRotate)
	for _, s := range sortedKeys(base) {
		st := base[s]
		r := &ceremony.Roles{Shard: s}
		switch kc.Role {
		case "root", "targets":
			r.Root = t.nextRoot(st.Root)
			role := r.Root.Signed.Roles[kc.Role]
			if err := changeKeys(r.Root.Signed.Keys, &role.KeyIDs, &role.Threshold, kc, true); err != nil {
				return nil, nil, err
			}
			if kc.Role == "targets" {
				r.Targets = t.nextTargets(st.Targets, layout.RoleTargets)
			}
		case "online":
			if kc.Online == nil || kc.Online.Shards != b.Shards {
				return nil, nil, fmt.Errorf("rotating online keys needs the server's next online keys for %d shards (from 'hallmark admin prepare --rotate-online')", b.Shards)
			}
			r.Root = t.nextRoot(st.Root)
			sk := kc.Online.Key(s, layout.RoleSnapshot)
			r.Root.Signed.Keys[sk.ID()] = sk.TUF()
			r.Root.Signed.Roles[layout.RoleSnapshot].KeyIDs = []string{sk.ID()}
			r.Root.Signed.Roles[layout.RoleSnapshot].Threshold = 1
			// The witnesses stay; only the server's timestamp key changes.
			if err := setWitnesses(r.Root, []signing.PublicKey{kc.Online.Key(s, layout.RoleTimestamp)}, nil, nil, 0); err != nil {
				return nil, nil, err
			}
			r.Targets = t.nextTargets(st.Targets, layout.RoleTargets)
			ds := r.Targets.Signed.Delegations
			nk := kc.Online.Key(s, ceremony.OnlineNew)
			for i := range ds.Roles {
				if ds.Roles[i].Name == layout.NewRole(s) {
					for _, id := range ds.Roles[i].KeyIDs {
						delete(ds.Keys, id)
					}
					ds.Keys[nk.ID()] = nk.TUF()
					ds.Roles[i].KeyIDs, ds.Roles[i].Threshold = []string{nk.ID()}, 1
				}
			}
		case "claim":
			r.Targets = t.nextTargets(st.Targets, layout.RoleTargets)
			ds := r.Targets.Signed.Delegations
			role := &ds.Roles[0]
			if err := changeKeys(ds.Keys, &role.KeyIDs, &role.Threshold, kc, false); err != nil {
				return nil, nil, err
			}
			r.Claimed = t.nextTargets(st.Claimed, layout.ClaimedRole(s))
		default:
			return nil, nil, fmt.Errorf("cannot rotate %q: choose root, targets or claim (online keys: not supported yet)", kc.Role)
		}
		if r.Root != nil {
			pruneRootKeys(r.Root)
		}
		if err := addChange(b, r); err != nil {
			return nil, nil, err
		}
	}
	rep, err := t.finish(ctx, b, base, keys)
	return b, rep, err
}

// setTrust gives a bundle that changes every shard's root the trust
// summary that names the new roots, so that clients who pin the
// repository from now on start from them (and never from a root whose
// online keys were rotated away).
func setTrust(b *ceremony.Bundle) error {
	if len(b.Changes) != b.Shards {
		return nil
	}
	for _, c := range b.Changes {
		r, err := c.Decode()
		if err != nil {
			return err
		}
		if r.Root == nil {
			return nil
		}
		if b.Trust == nil {
			b.Trust = trustOf(r.Root, b.Shards)
		} else if r.Root.Signed.Version != b.Trust.RootVersion {
			if b.Trust.RootVersions == nil {
				b.Trust.RootVersions = map[string]int64{}
			}
			b.Trust.RootVersions[c.Shard] = r.Root.Signed.Version
		}
	}
	return nil
}

// setWitnesses sets a root's timestamp role: the online keys (nil keeps
// the current ones), the current witnesses less those named in remove
// plus add, and a threshold (0: the current one if it still fits, else
// ceremony.DefaultTimestampThreshold).
func setWitnesses(root *tufmeta.Root, online []signing.PublicKey, add []*witness.Keys, remove []string, threshold int) error {
	cur, err := tufmeta.SplitTimestamp(root)
	if err != nil {
		return err
	}
	if online == nil {
		for _, id := range cur.Online.KeyIDs {
			k, err := signing.PublicFromTUF(cur.Online.Keys[id])
			if err != nil {
				return err
			}
			online = append(online, k)
		}
	}
	id, err := trust.IdentityOf(root.Signed.UnrecognizedFields)
	if err != nil {
		return err
	}
	var entries []tufmeta.Witness
	var wkeys []signing.PublicKey
	for _, w := range cur.Witnesses {
		if slices.Contains(remove, w.Name) {
			continue
		}
		k, err := signing.PublicFromTUF(cur.Role.Keys[w.KeyID])
		if err != nil {
			return err
		}
		entries, wkeys = append(entries, w), append(wkeys, k)
	}
	for _, name := range remove {
		if !slices.ContainsFunc(cur.Witnesses, func(w tufmeta.Witness) bool { return w.Name == name }) {
			return fmt.Errorf("no witness named %q; the witnesses are %s", name, witnessNames(cur.Witnesses))
		}
	}
	e, k := ceremony.WitnessesOf(add, id.Shard)
	for _, w := range e {
		if slices.ContainsFunc(entries, func(x tufmeta.Witness) bool { return x.Name == w.Name }) {
			return fmt.Errorf("witness %q is a witness already; remove it first to change its keys", w.Name)
		}
	}
	entries, wkeys = append(entries, e...), append(wkeys, k...)
	if threshold == 0 {
		threshold = cur.Role.Threshold
		if len(entries) != len(cur.Witnesses) || len(online) != len(cur.Online.KeyIDs) {
			threshold = ceremony.DefaultTimestampThreshold(len(entries))
		}
	}
	return tufmeta.SetTimestampKeys(root, online, entries, wkeys, threshold)
}

func witnessNames(ws []tufmeta.Witness) string {
	if len(ws) == 0 {
		return "none"
	}
	var names []string
	for _, w := range ws {
		names = append(names, w.Name)
	}
	return strings.Join(names, ", ")
}

// WitnessChange adds or removes witnesses of every shard's timestamp.
type WitnessChange struct {
	Add       []*witness.Keys
	Remove    []string // witness names
	Threshold int      // 0: the default for the new number of witnesses
}

// Witnesses changes who co-signs every shard's timestamp: a new root for
// every shard, signed by the root keys.
func (t *Tool) Witnesses(ctx context.Context, wc WitnessChange, keys []*signing.Key) (*ceremony.Bundle, *Report, error) {
	if len(wc.Add) == 0 && len(wc.Remove) == 0 && wc.Threshold == 0 {
		return nil, nil, errors.New("nothing to change: name witnesses to add or remove, or a threshold")
	}
	for _, w := range wc.Add {
		if w.Shards != t.Client.Trust().Shards {
			return nil, nil, fmt.Errorf("witness %s exported keys for %d shards; this repository has %d: ask for `hallmark witness key --shards %d`", w.Name, w.Shards, t.Client.Trust().Shards, t.Client.Trust().Shards)
		}
	}
	base, err := t.Base(ctx, nil)
	if err != nil {
		return nil, nil, err
	}
	b := t.newBundle(ceremony.KindRotate)
	for _, s := range sortedKeys(base) {
		r := &ceremony.Roles{Shard: s, Root: t.nextRoot(base[s].Root)}
		if err := setWitnesses(r.Root, nil, wc.Add, wc.Remove, wc.Threshold); err != nil {
			return nil, nil, err
		}
		pruneRootKeys(r.Root)
		if err := addChange(b, r); err != nil {
			return nil, nil, err
		}
	}
	rep, err := t.finish(ctx, b, base, keys)
	return b, rep, err
}

// pruneRootKeys drops keys no top-level role names any more.
func pruneRootKeys(root *tufmeta.Root) {
	used := map[string]bool{}
	for _, r := range root.Signed.Roles {
		for _, id := range r.KeyIDs {
			used[id] = true
		}
	}
	for id := range root.Signed.Keys {
		if !used[id] {
			delete(root.Signed.Keys, id)
		}
	}
}

func trustOf(root *tufmeta.Root, shards int) *trust.File {
	d, _ := tufmeta.RootDelegation(root, layout.RoleRoot)
	return &trust.File{Shards: shards, RootKeys: d.Keys, RootThreshold: d.Threshold, RootVersion: root.Signed.Version}
}

// changeKeys edits a key list in place. Keys other roles still use stay
// listed (root and targets share the root's key map).
func changeKeys(all map[string]*metadata.Key, ids *[]string, threshold *int, kc KeyChange, shared bool) error {
	for _, k := range kc.Add {
		if slices.Contains(*ids, k.ID()) {
			return fmt.Errorf("key %s is already a %s key", k.ShortID(), kc.Role)
		}
		all[k.ID()] = k.TUF()
		*ids = append(*ids, k.ID())
	}
	for _, rm := range kc.Remove {
		var hit []string
		for _, id := range *ids {
			if id == rm || (len(rm) >= 8 && len(id) >= len(rm) && id[:len(rm)] == rm) {
				hit = append(hit, id)
			}
		}
		if len(hit) != 1 {
			return fmt.Errorf("%q names %d %s keys; give 8 or more leading hex digits of one key id", rm, len(hit), kc.Role)
		}
		*ids = slices.DeleteFunc(*ids, func(id string) bool { return id == hit[0] })
		if !shared {
			delete(all, hit[0])
		}
	}
	if kc.Threshold != 0 {
		*threshold = kc.Threshold
	}
	if *threshold < 1 || *threshold > len(*ids) {
		return fmt.Errorf("the %s threshold %d must be between 1 and the number of %s keys (%d)", kc.Role, *threshold, kc.Role, len(*ids))
	}
	return nil
}

// Renew re-signs every offline role inside its signing period (all of them
// with force), in every shard.
func (t *Tool) Renew(ctx context.Context, force bool, keys []*signing.Key) (*ceremony.Bundle, *Report, error) {
	base, err := t.Base(ctx, nil)
	if err != nil {
		return nil, nil, err
	}
	pol, now := t.policy(), t.now()
	b := t.newBundle(ceremony.KindRenew)
	for _, s := range sortedKeys(base) {
		st := base[s]
		r := &ceremony.Roles{Shard: s}
		if force || pol.NeedsRenewal(layout.RoleRoot, st.Root.Signed.Expires, now) {
			r.Root = t.nextRoot(st.Root)
		}
		if force || pol.NeedsRenewal(layout.RoleTargets, st.Targets.Signed.Expires, now) {
			r.Targets = t.nextTargets(st.Targets, layout.RoleTargets)
		}
		if force || pol.NeedsRenewal(layout.ClaimedRole(s), st.Claimed.Signed.Expires, now) {
			r.Claimed = t.nextTargets(st.Claimed, layout.ClaimedRole(s))
		}
		if r.Root == nil && r.Targets == nil && r.Claimed == nil {
			continue
		}
		if err := addChange(b, r); err != nil {
			return nil, nil, err
		}
	}
	if len(b.Changes) == 0 {
		return nil, nil, fmt.Errorf("no offline metadata is inside its signing period; nothing to renew (use --force to renew anyway)")
	}
	rep, err := t.finish(ctx, b, base, keys)
	return b, rep, err
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Settings returns the repository settings the admins signed, as verified
// in the first shard.
func (t *Tool) Settings(ctx context.Context) (layout.Settings, error) {
	st, err := t.Client.Shard(ctx, layout.ShardIDs(t.Client.Trust().Shards)[0])
	if err != nil {
		return layout.Settings{}, err
	}
	return tufmeta.SettingsOf(st.Targets)
}

// Config changes repository settings ("key=value", as layout.Settings.Set
// takes them) in every shard's top-level targets, signed with the targets
// keys.
func (t *Tool) Config(ctx context.Context, sets []string, keys []*signing.Key) (*ceremony.Bundle, *Report, error) {
	base, err := t.Base(ctx, nil)
	if err != nil {
		return nil, nil, err
	}
	ids := sortedKeys(base)
	cur, err := tufmeta.SettingsOf(base[ids[0]].Targets)
	if err != nil {
		return nil, nil, err
	}
	next := cur
	next.Reserved = slices.Clone(cur.Reserved)
	next.AllowConfusable = slices.Clone(cur.AllowConfusable)
	for _, kv := range sets {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, nil, fmt.Errorf("setting %q must be KEY=VALUE", kv)
		}
		if err := next.Set(k, v); err != nil {
			return nil, nil, err
		}
	}
	if err := next.Check(); err != nil {
		return nil, nil, err
	}
	b := t.newBundle(ceremony.KindConfig)
	for _, s := range ids {
		r := &ceremony.Roles{Shard: s, Targets: t.nextTargets(base[s].Targets, layout.RoleTargets)}
		tufmeta.SetSettings(r.Targets, next)
		if err := addChange(b, r); err != nil {
			return nil, nil, err
		}
	}
	rep, err := t.finish(ctx, b, base, keys)
	return b, rep, err
}

// addChange encodes a shard's proposed roles into the bundle.
func addChange(b *ceremony.Bundle, r *ceremony.Roles) error {
	c := ceremony.ShardChange{Shard: r.Shard}
	if err := c.Encode(r); err != nil {
		return err
	}
	b.Changes = append(b.Changes, c)
	return nil
}
