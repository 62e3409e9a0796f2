package layout

import (
	"fmt"
	"time"
)

// Expiry is how long one kind of role is valid when signed, and how long
// before its expiry the tools start to renew it or warn.
type Expiry struct {
	Valid   time.Duration
	Signing time.Duration // the signing period: renew or warn inside it
}

// Policy is the repository's expiry policy, by role kind.
type Policy struct {
	Root, Targets, Claimed, New, Snapshot, Timestamp, Project Expiry
}

const day = 24 * time.Hour

// DefaultPolicy is the expiry policy of DESIGN.md section 5.
func DefaultPolicy() Policy {
	return Policy{
		Root:      Expiry{Valid: 365 * day, Signing: 60 * day},
		Targets:   Expiry{Valid: 365 * day, Signing: 60 * day},
		Claimed:   Expiry{Valid: 90 * day, Signing: 30 * day},
		New:       Expiry{Valid: 7 * day, Signing: 6 * day},
		Snapshot:  Expiry{Valid: 7 * day, Signing: 6 * day},
		Timestamp: Expiry{Valid: 1 * day, Signing: 20 * time.Hour},
		Project:   Expiry{Valid: 365 * day, Signing: 30 * day},
	}
}

// For returns the expiry rule of a role.
func (p Policy) For(role string) Expiry {
	kind, _ := ParseRole(role)
	switch kind {
	case KindClaimed:
		return p.Claimed
	case KindNew:
		return p.New
	case KindOwners, KindReleases:
		return p.Project
	}
	switch role {
	case RoleRoot:
		return p.Root
	case RoleTargets:
		return p.Targets
	case RoleSnapshot:
		return p.Snapshot
	case RoleTimestamp:
		return p.Timestamp
	}
	return p.Project
}

// ExpiresAt returns the expiry to write into a role signed at now: UTC,
// whole seconds (some TUF clients refuse fractional seconds).
func (p Policy) ExpiresAt(role string, now time.Time) time.Time {
	return Expires(now.Add(p.For(role).Valid))
}

// Expires normalizes a time for use as a TUF expiry: UTC, whole seconds.
func Expires(t time.Time) time.Time { return t.UTC().Truncate(time.Second) }

// clockSkew is how far a signer's clock may run ahead of the server's.
const clockSkew = time.Hour

// CheckExpiry returns an error unless expires, proposed for role at now, lies
// in the future and no further than the policy allows.
func (p Policy) CheckExpiry(role string, expires, now time.Time) error {
	if !expires.After(now) {
		return fmt.Errorf("role %s expires %s, which is not in the future", role, expires.UTC().Format(time.RFC3339))
	}
	limit := now.Add(p.For(role).Valid + clockSkew)
	if expires.After(limit) {
		return fmt.Errorf("role %s expires %s; the policy allows at most %s from now", role, expires.UTC().Format(time.RFC3339), p.For(role).Valid)
	}
	return nil
}

// NeedsRenewal reports whether a role that expires at expires is inside its
// signing period at now.
func (p Policy) NeedsRenewal(role string, expires, now time.Time) bool {
	return !now.Before(expires.Add(-p.For(role).Signing))
}
