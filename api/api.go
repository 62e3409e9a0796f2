// Package api defines the JSON bodies of Hallmark's write API, shared by the
// server and the tools that call it. docs/api.md is the contract in words.
//
// Nothing in a response is trusted by the tools: they learn state only
// through TUF verification. Responses say what happened to a request.
package api

import (
	"encoding/json"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// ChangeRequest is the "change" part of a write request. OwnersRole and
// ReleasesRole are signed TUF targets metadata, as JSON.
type ChangeRequest struct {
	// Project is the project name; on creation, as the user typed it.
	Project string `json:"project"`
	// Owners, on creation only, are the owner keys and threshold the
	// project's bin delegation will name.
	Owners       *Owners         `json:"owners,omitempty"`
	OwnersRole   json.RawMessage `json:"owners_role,omitempty"`
	ReleasesRole json.RawMessage `json:"releases_role,omitempty"`
}

// Owners are a project's owner keys and threshold.
type Owners struct {
	Keys      map[string]*metadata.Key `json:"keys"`
	KeyIDs    []string                 `json:"keyids"`
	Threshold int                      `json:"threshold"`
}

// Status values of a ChangeResponse.
const (
	StatusPublished = "published"
	StatusPending   = "pending"
)

// ChangeResponse answers an accepted write.
type ChangeResponse struct {
	Status  string `json:"status"`
	Project string `json:"project"`
	Shard   string `json:"shard"`
	// SnapshotVersion is the shard's snapshot version that contains the change.
	SnapshotVersion int64 `json:"snapshot_version,omitempty"`
	SignaturesValid int   `json:"signatures_valid"`
	Threshold       int   `json:"threshold"`
	// Waiting, for a published change, says why downloaders do not see it
	// yet: its shard's timestamp waits for the witnesses to co-sign. The
	// server retries; the change becomes visible without anything more.
	Waiting string `json:"waiting,omitempty"`
}

// ErrorResponse is the body of every error answer.
type ErrorResponse struct {
	Error Error `json:"error"`
}

// Error says what went wrong and, when known, what to do.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Hint    string `json:"hint,omitempty"`
	// CurrentVersion is set on conflicts: the published version of the role.
	CurrentVersion int64 `json:"current_version,omitempty"`
}

// UnverifiedNote marks read answers that are conveniences, not trusted state.
const UnverifiedNote = "unverified: the server's view; verify with TUF before relying on it"

// ProjectResponse is the server's unverified view of a project.
type ProjectResponse struct {
	Note    string        `json:"note"`
	Name    string        `json:"name"`
	Display string        `json:"display"`
	Shard   string        `json:"shard"`
	Status  string        `json:"status"`
	Created time.Time     `json:"created"`
	Roles   []RoleVersion `json:"roles"`
	// Blocked projects are not served; BlockReason says why.
	Blocked     bool   `json:"blocked,omitempty"`
	BlockReason string `json:"block_reason,omitempty"`
}

// RoleVersion is a role's published version and expiry.
type RoleVersion struct {
	Role    string    `json:"role"`
	Version int64     `json:"version"`
	Expires time.Time `json:"expires"`
}

// PendingResponse answers a change that lacks signatures: it is kept as a
// pending change until enough signatures arrive or it expires.
type PendingResponse struct {
	Status          string    `json:"status"` // "pending"
	Project         string    `json:"project"`
	ID              string    `json:"id"`
	Expires         time.Time `json:"expires"`
	SignaturesValid int       `json:"signatures_valid"`
	Threshold       int       `json:"threshold"`
}

// PendingChange is a pending change as the server lists it. Change holds
// the roles with the signatures so far; tools verify it before showing it.
type PendingChange struct {
	ID      string          `json:"id"`
	Project string          `json:"project"`
	Created time.Time       `json:"created"`
	Expires time.Time       `json:"expires"`
	Change  json.RawMessage `json:"change"`
	Files   []PendingFile   `json:"files"`
	// Superseded is set when a change published after this one changed
	// a role it changes: it can never apply, and is kept (until it
	// expires) so that its author sees it and can sign it again on top of
	// the new state.
	Superseded bool `json:"superseded,omitempty"`
}

// PendingFile is a staged file of a pending change.
type PendingFile struct {
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
	Length int64  `json:"length"`
}

// PendingList is the body of the pending-change listings.
type PendingList struct {
	Note    string          `json:"note"`
	Pending []PendingChange `json:"pending"`
}

// SignaturesRequest adds signatures to a pending change's roles.
type SignaturesRequest struct {
	OwnersRole   []metadata.Signature `json:"owners_role,omitempty"`
	ReleasesRole []metadata.Signature `json:"releases_role,omitempty"`
}

// CeremonyResult is the outcome of a ceremony for one shard.
type CeremonyResult struct {
	Shard  string `json:"shard"`
	Status string `json:"status"` // "published" or "rejected"
	Error  string `json:"error,omitempty"`
	// SnapshotVersion is the shard's snapshot that contains the change.
	SnapshotVersion int64 `json:"snapshot_version,omitempty"`
}

// CeremonyResponse answers a submitted ceremony.
type CeremonyResponse struct {
	Results []CeremonyResult `json:"results"`
}

// AdminStatus is the server's (unverified) view of what needs the admins.
type AdminStatus struct {
	Note   string `json:"note"`
	Shards int    `json:"shards"`
	// Expiries summarise each role kind across shards.
	Expiries []RoleExpiry `json:"expiries"`
	// Unclaimed are the projects waiting to be claimed (at most 10,000).
	Unclaimed      []string `json:"unclaimed"`
	UnclaimedTotal int      `json:"unclaimed_total"`
	// OwnerChanges are claimed projects whose owners role asks for other owners.
	OwnerChanges []string        `json:"owner_changes"`
	Blocked      []BlockedReport `json:"blocked"`
	Renewal      RenewalStatus   `json:"renewal"`
}

// RoleExpiry is the earliest expiry of a role kind across shards.
type RoleExpiry struct {
	Role     string    `json:"role"`
	Earliest time.Time `json:"earliest"`
	Shard    string    `json:"shard"`
	// InSigningPeriod counts shards whose role is due for renewal.
	InSigningPeriod int  `json:"in_signing_period"`
	Online          bool `json:"online"`
}

// BlockedReport is a blocked project.
type BlockedReport struct {
	Project string `json:"project"`
	Reason  string `json:"reason"`
}

// RenewalStatus is the state of online renewal.
type RenewalStatus struct {
	LastRenewal    time.Time `json:"last_renewal"`
	Renewals       int64     `json:"renewals"`
	LastError      string    `json:"last_error,omitempty"`
	LastErrorTime  time.Time `json:"last_error_time"`
	Healthy        bool      `json:"healthy"`
	HealthyMessage string    `json:"message"`
}
