// Package validation decides whether a proposed, signed project role may
// replace the current one. The server runs it on every write; the maintainer
// and admin tools run the same checks before they sign, against state they
// learned through TUF verification.
//
// The rules (DESIGN.md section 6): a role is published only when a threshold
// of the keys named by its published delegating role signed it, its version
// is the current one plus one, its expiry is within policy, every target path
// lies in the project's own namespace, no published file changes content or
// comes back with other content after removal, and the project index agrees
// with the role's targets. Functions here do no I/O.
package validation

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"hallmark.dev/hallmark/layout"
	"hallmark.dev/hallmark/signing"
	"hallmark.dev/hallmark/tufmeta"
)

// Outcome is the validator's verdict on a proposal.
type Outcome int

// The possible verdicts.
const (
	Reject  Outcome = iota // the proposal can never be published as it is
	Pending                // well-formed, but more signatures are needed
	Accept                 // publish it
)

func (o Outcome) String() string {
	return [...]string{"rejected", "pending", "accepted"}[o]
}

// Decision is a verdict with its reason and the signature count.
type Decision struct {
	Outcome Outcome
	Reason  error // why it was rejected; nil otherwise
	Sigs    tufmeta.SigCount
	// OwnerChange is set when an owners role changes the project's owners:
	// the declared new owner set, for the project's bin delegation.
	OwnerChange *tufmeta.Delegation
	// Unsigned is set when the only reason for a rejection is that the
	// role carries no signature at all (every other check passed).
	Unsigned bool
	// Index is the project index CheckReleases parsed, once it got that
	// far, so that its caller need not parse it again.
	Index *layout.Index
}

// Project is the verified current state of one project: what its delegating
// bin says about its owners role, and its two published roles.
type Project struct {
	Name string
	// Owners is the delegation of the owners role in the project's bin
	// (claimed.<shard> or new.<shard>).
	Owners tufmeta.Delegation
	// OwnersRole and ReleasesRole are the published roles (nil before the
	// project exists).
	OwnersRole   *tufmeta.Targets
	ReleasesRole *tufmeta.Targets
	// Tombstones maps every target path ever published in the project to its
	// sha256, including removed files: a path never returns with other content.
	Tombstones map[string]string
}

// Env is the context of a check: policy and the current time.
type Env struct {
	Policy layout.Policy
	Now    time.Time
}

// Rejected is the error type of every rejection: a message for the user,
// and for some rejections a code (RejectExists, RejectNotFound).
type Rejected struct {
	Msg  string
	Code string
}

// Codes of rejections that are not about the proposal's content.
const (
	RejectExists   = "exists"
	RejectNotFound = "not_found"
)

func (r *Rejected) Error() string { return r.Msg }

func reject(format string, args ...any) Decision {
	return Decision{Outcome: Reject, Reason: &Rejected{Msg: fmt.Sprintf(format, args...)}}
}

// checkCommon applies the rules every project role shares: version, expiry,
// type.
func checkCommon(role string, proposed, current *tufmeta.Targets, env Env) *Decision {
	want := int64(1)
	if current != nil {
		want = current.Signed.Version + 1
	}
	if proposed.Signed.Type != metadata.TARGETS {
		d := reject("%s: metadata type is %q; want %q", role, proposed.Signed.Type, metadata.TARGETS)
		return &d
	}
	if proposed.Signed.Version != want {
		d := reject("%s: version %d does not follow the published version %d; fetch the current state and sign again", role, proposed.Signed.Version, want-1)
		d.Reason = &Conflict{Role: role, Proposed: proposed.Signed.Version, Current: want - 1}
		return &d
	}
	if err := env.Policy.CheckExpiry(role, proposed.Signed.Expires, env.Now); err != nil {
		d := reject("%v", err)
		return &d
	}
	return nil
}

// Conflict is the rejection of a proposal built on a version that is no
// longer the published one.
type Conflict struct {
	Role              string
	Proposed, Current int64
}

func (c *Conflict) Error() string {
	return fmt.Sprintf("%s: version %d does not follow the published version %d; fetch the current state and sign again", c.Role, c.Proposed, c.Current)
}

// signatures counts md's signatures against d and turns the count into a
// verdict: any signature by a key outside the delegation, or any signature
// that does not verify, rejects.
func signatures(role string, md *tufmeta.Targets, d tufmeta.Delegation, who string) Decision {
	c, err := tufmeta.Count(md, d)
	if err != nil {
		return reject("%s: %v", role, err)
	}
	switch {
	case len(md.Signatures) == 0:
		return Decision{Outcome: Reject, Reason: &Rejected{Msg: fmt.Sprintf("%s is not signed; sign it with a key of one of the %s", role, who)}, Sigs: c, Unsigned: true}
	case len(c.Unknown) > 0:
		return Decision{Outcome: Reject, Reason: &Rejected{Msg: fmt.Sprintf("%s is signed by key %s, which is not one of the %s", role, short(c.Unknown[0]), who)}, Sigs: c}
	case len(c.Bad) > 0:
		return Decision{Outcome: Reject, Reason: &Rejected{Msg: fmt.Sprintf("%s carries a signature by key %s that does not verify; the metadata was changed after signing", role, short(c.Bad[0]))}, Sigs: c}
	case c.Met():
		return Decision{Outcome: Accept, Sigs: c}
	}
	return Decision{Outcome: Pending, Sigs: c}
}

func short(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

// CheckOwners decides on a proposed owners role of an existing or new
// project. The owners role lists no targets and delegates exactly one role:
// the project's releases role, with the project's paths, terminating.
func CheckOwners(p *Project, proposed *tufmeta.Targets, env Env) Decision {
	role := layout.OwnersRole(p.Name)
	if d := checkCommon(role, proposed, p.OwnersRole, env); d != nil {
		return *d
	}
	if len(proposed.Signed.Targets) != 0 {
		return reject("%s: the owners role lists no files; release files belong in %s", role, layout.ReleasesRole(p.Name))
	}
	if err := CheckProjectDelegation(proposed.Signed.Delegations, layout.ReleasesRole(p.Name), p.Name); err != nil {
		return reject("%s: %v", role, err)
	}
	declared, ok, err := tufmeta.DeclaredOwners(proposed)
	if err != nil {
		return reject("%s: %v", role, err)
	}
	if ok {
		// The declared keys must be what their ids say, or a role could
		// publish an owner set that names one key and holds another.
		if err := CheckKeys(declared.Keys, declared.KeyIDs, declared.Threshold); err != nil {
			return reject("%s: declared owners: %v", role, err)
		}
	}
	if ok && !tufmeta.SameKeys(declared, p.Owners) {
		return checkOwnerChange(role, proposed, p.Owners, declared)
	}
	return signatures(role, proposed, p.Owners, "project's owners")
}

// CheckProjectDelegation checks a delegation block that must delegate exactly
// one role, name, with the project's paths: used for the owners role's
// delegation to the releases role, and for a bin's delegation to a project.
func CheckProjectDelegation(d *metadata.Delegations, name, project string) error {
	if d == nil || len(d.Roles) != 1 || d.SuccinctRoles != nil {
		return fmt.Errorf("must delegate exactly one role, %s", name)
	}
	r := d.Roles[0]
	if r.Name != name {
		return fmt.Errorf("delegates %q; must delegate %s", r.Name, name)
	}
	if !slices.Equal(r.Paths, layout.DelegationPaths(project)) || len(r.PathHashPrefixes) != 0 {
		return fmt.Errorf("delegation paths %v must be exactly %v", r.Paths, layout.DelegationPaths(project))
	}
	if !r.Terminating {
		return fmt.Errorf("delegation to %s must be terminating", name)
	}
	if err := CheckKeys(d.Keys, r.KeyIDs, r.Threshold); err != nil {
		return fmt.Errorf("delegation to %s: %w", name, err)
	}
	return nil
}

// CheckKeys checks that keyIDs name distinct ed25519 keys listed in keys
// under their true key ids, that no other key is listed, and that threshold
// is between 1 and the number of keys.
func CheckKeys(keys map[string]*metadata.Key, keyIDs []string, threshold int) error {
	if len(keyIDs) == 0 {
		return fmt.Errorf("names no keys")
	}
	if threshold < 1 || threshold > len(keyIDs) {
		return fmt.Errorf("threshold %d must be between 1 and the number of keys (%d)", threshold, len(keyIDs))
	}
	if len(keys) != len(keyIDs) {
		return fmt.Errorf("lists %d keys but names %d", len(keys), len(keyIDs))
	}
	seen := map[string]bool{}
	pubs := map[string]bool{}
	for _, id := range keyIDs {
		k, ok := keys[id]
		if !ok || seen[id] {
			return fmt.Errorf("key %s is missing or named twice", short(id))
		}
		seen[id] = true
		if len(k.UnrecognizedFields) != 0 || len(k.Value.UnrecognizedFields) != 0 {
			return fmt.Errorf("key %s is malformed", short(id))
		}
		// Standard TUF key types only (ed25519, ecdsa-sha2-nistp256), each
		// in its one canonical spelling: lower-case hex, or the PEM that
		// go-tuf writes. Otherwise the same key could stand under two ids
		// and count twice.
		pub, err := signing.PublicFromTUF(k)
		if err != nil {
			return fmt.Errorf("key %s is not accepted: %v", short(id), err)
		}
		if k.Type == metadata.KeyTypeEd25519 && strings.ToLower(k.Value.PublicKey) != k.Value.PublicKey {
			return fmt.Errorf("key %s is malformed: write ed25519 keys in lower-case hex", short(id))
		}
		if pubs[string(pub.Raw())] {
			return fmt.Errorf("key %s names a public key that another key id names too", short(id))
		}
		pubs[string(pub.Raw())] = true
		if got, err := k.ID(); err != nil || got != id {
			return fmt.Errorf("key listed as %s has key id %s", short(id), short(got))
		}
	}
	return nil
}
