// Package store defines where Hallmark keeps its state and its bytes.
//
// State holds the published roles of every shard (every version, so history
// and repair are possible), projects, the file records that make file names
// permanent, and the audit log. Blobs holds what is served: published
// metadata files and target files. A Publication, everything one publish of
// one shard changes, commits atomically: the state is either before or after
// it, never between. Implementations: store/sqlite (embedded default) and,
// later, PostgreSQL; store/blobdir (a local directory) and, later, S3.
package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"time"
)

// ErrNotFound is returned when a record does not exist.
var ErrNotFound = errors.New("not found")

// ErrConflict is returned by Commit when a role version it would insert
// exists already: another publisher got there first.
var ErrConflict = errors.New("conflicting publication")

// RoleFile is one published version of one role of one shard.
type RoleFile struct {
	Shard   string
	Role    string
	Version int64
	Expires time.Time
	Data    []byte
}

// Project status values.
const (
	StatusNew     = "new"     // delegated by new.<shard>, online key
	StatusClaimed = "claimed" // delegated by claimed.<shard>, offline claim key
)

// Project is a registered project.
type Project struct {
	Name    string // normalized
	Display string // as first registered
	Shard   string
	Status  string
	Created time.Time
	// Blocked projects are not served; BlockReason says why.
	Blocked     bool
	BlockReason string
	// OwnerRequest is set when the owners of a claimed project published a
	// request for other owners, which the admins' next claim applies.
	OwnerRequest bool
}

// ProjectFilter selects projects in ListProjectsWhere.
type ProjectFilter struct {
	Status       string // "" for any
	Blocked      bool   // only blocked projects
	OwnerRequest bool   // only projects with an owner-change request
}

// FileRecord is a release file ever published in a project. Records are
// never deleted: a removed file keeps its record (a tombstone) so that its
// path never returns with other content.
type FileRecord struct {
	Project string
	Path    string
	SHA256  string
	Length  int64
	Removed bool
}

// AuditEntry is one line of a project's history.
type AuditEntry struct {
	Time    time.Time
	Project string
	Action  string
	Detail  string
	KeyIDs  []string
}

// PendingChange is a proposed change that lacks signatures. Its staged
// files are kept as blobs at PendingBlobPath(ID, sha256).
type PendingChange struct {
	ID      string
	Project string
	Created time.Time
	Expires time.Time
	// Change is the write request's "change" JSON with the signatures so far.
	Change []byte
	// Files are the staged files: target path, sha256, length.
	Files   []FileRecord
	Summary string
}

// PendingBlobPath is where a pending change's staged file is kept; it is
// never served.
func PendingBlobPath(id, sha256 string) string { return "pending/" + id + "/" + sha256 }

// RoleRef names one version of one role of a shard.
type RoleRef struct {
	Shard   string `json:"shard"`
	Role    string `json:"role"`
	Version int64  `json:"version"`
}

// Publication is everything one publish of one shard changes.
type Publication struct {
	Shard string
	Roles []RoleFile
	// Written lists the versioned metadata files this publication makes
	// current; they are written after the commit, and LastWritten returns
	// each shard's list so a restart can finish writing them.
	Written  []RoleRef
	Projects []Project
	Files    []FileRecord
	Audit    []AuditEntry
}

// State is the repository's state store.
type State interface {
	// Role returns the latest published version of a role.
	Role(ctx context.Context, shard, role string) (RoleFile, error)
	// RoleVersion returns one version of a role.
	RoleVersion(ctx context.Context, shard, role string, version int64) (RoleFile, error)
	// ShardRoles returns the latest version of every role of a shard.
	ShardRoles(ctx context.Context, shard string) ([]RoleFile, error)
	// Project returns a project by normalized name.
	Project(ctx context.Context, name string) (Project, error)
	// ProjectLike returns a project other than name (normalized) whose
	// name has the same layout.Skeleton: one a reader could take for it.
	// ErrNotFound when there is none.
	ProjectLike(ctx context.Context, name string) (Project, error)
	// ListProjects returns projects ordered by name, after the given name.
	ListProjects(ctx context.Context, after string, limit int) ([]Project, error)
	// ListProjectsWhere returns projects matching f, ordered by name, after
	// the given name.
	ListProjectsWhere(ctx context.Context, f ProjectFilter, after string, limit int) ([]Project, error)
	// CountProjects counts projects by status.
	CountProjects(ctx context.Context) (map[string]int, error)
	// Files returns the file records of a project, removed ones included.
	Files(ctx context.Context, project string) ([]FileRecord, error)
	// Audit returns a project's history, newest first.
	Audit(ctx context.Context, project string, limit int) ([]AuditEntry, error)
	// RecentAudit returns the newest history entries of all projects,
	// newest first (the web UI's "recently published").
	RecentAudit(ctx context.Context, limit int) ([]AuditEntry, error)
	// SearchProjects returns up to limit projects whose normalized name
	// starts with query, in name order, then those that contain it
	// elsewhere, in name order.
	SearchProjects(ctx context.Context, query string, limit int) ([]Project, error)
	// RoleExpiries returns the latest version and expiry, without Data, of
	// each of the named roles of a shard that exists.
	RoleExpiries(ctx context.Context, shard string, roles []string) ([]RoleFile, error)
	// Commit applies a publication atomically.
	Commit(ctx context.Context, p Publication) error
	// LastWritten returns the Written list of a shard's last publication.
	LastWritten(ctx context.Context, shard string) ([]RoleRef, error)
	// PutPending stores (or replaces) a pending change.
	PutPending(ctx context.Context, p PendingChange) error
	// Pending returns one pending change.
	Pending(ctx context.Context, id string) (PendingChange, error)
	// ListPending returns the pending changes of a project ("" for all), oldest first.
	ListPending(ctx context.Context, project string) ([]PendingChange, error)
	// DeletePending removes a pending change; a missing one is not an error.
	DeletePending(ctx context.Context, id string) error
	// Setting and PutSetting keep small repository-wide values.
	Setting(ctx context.Context, key string) (string, error)
	PutSetting(ctx context.Context, key, value string) error
	// Ping checks that the store answers.
	Ping(ctx context.Context) error
	Close() error
}

// Blob is a stored blob opened for reading.
type Blob interface {
	io.ReadSeekCloser
	Size() int64
	ModTime() time.Time
}

// CheckBlobPath refuses a blob path that is not clean, relative and
// slash-separated ("..", "/abs", "a//b", "a\\b"): no blob store reads or
// writes outside its root, whatever a caller passes.
func CheckBlobPath(p string) error {
	clean := path.Clean("/" + p)
	if clean == "/" || clean != "/"+p || strings.Contains(p, "\\") {
		return fmt.Errorf("invalid blob path %q", p)
	}
	return nil
}

// Blobs is the store of served bytes, addressed by slash-separated paths
// ("metadata/<shard>/3.targets.json", "targets/<project>/<version>/<sha256>.<file>").
type Blobs interface {
	// Put stores a blob atomically: readers see the old blob or the new one.
	Put(ctx context.Context, path string, r io.Reader) error
	// Open opens a blob for reading; ErrNotFound if it does not exist.
	Open(ctx context.Context, path string) (Blob, error)
	// Exists reports whether a blob exists.
	Exists(ctx context.Context, path string) (bool, error)
	// Delete removes a blob; removing a missing blob is not an error.
	Delete(ctx context.Context, path string) error
}

// StagingBlobs is implemented by blob stores that can make a blob's bytes
// durable before the blob becomes visible, so a writer can sync many files
// at once, ahead of the step that decides to publish them, and then make
// them visible in an order of its choosing at the cost of a rename each.
type StagingBlobs interface {
	Blobs
	// Stage writes and syncs the bytes of the blob at path without making
	// them visible: readers keep seeing the old blob, or none.
	Stage(ctx context.Context, path string, r io.Reader) (StagedBlob, error)
}

// Stage stages a blob in b: with b's own Stage when b is a StagingBlobs,
// else by keeping the bytes in memory until Publish stores them with Put.
// Either way, once Publish returns the blob is visible and durable.
func Stage(ctx context.Context, b Blobs, path string, data []byte) (StagedBlob, error) {
	if s, ok := b.(StagingBlobs); ok {
		return s.Stage(ctx, path, bytes.NewReader(data))
	}
	if err := CheckBlobPath(path); err != nil {
		return nil, err
	}
	return deferredPut{b, path, data}, nil
}

// deferredPut stages a blob in a store that cannot: Publish puts it.
type deferredPut struct {
	b    Blobs
	path string
	data []byte
}

func (d deferredPut) Publish(ctx context.Context) error {
	return d.b.Put(ctx, d.path, bytes.NewReader(d.data))
}

func (d deferredPut) Discard() {}

// StagedBlob is a blob whose bytes are durable but not visible yet.
type StagedBlob interface {
	// Publish makes the blob visible at its path atomically, as Put would
	// have (readers see the old blob or the new one).
	Publish(ctx context.Context) error
	// Discard removes the staged bytes; the path is left as it was.
	Discard()
}

// DeferredSyncBlobs is implemented by blob stores that can make many writes
// durable at once: the deferred writes skip their own syncs, and one Sync
// makes every write made before it durable. On a local file system one
// syncfs(2) costs about what one fsync does, so a publisher that writes a
// batch's files and then syncs once saves a sync per file, and the names of
// blobs published (renamed) before the Sync become durable with them.
type DeferredSyncBlobs interface {
	StagingBlobs
	// PutDeferred is Put, except that the blob is durable only once a
	// Sync called after PutDeferred returned has returned.
	PutDeferred(ctx context.Context, path string, r io.Reader) error
	// StageDeferred is Stage, except that the staged bytes are durable
	// only once a Sync called after StageDeferred returned has returned.
	StageDeferred(ctx context.Context, path string, r io.Reader) (StagedBlob, error)
	// Sync makes durable every write, rename and removal of the store
	// that completed before Sync was called.
	Sync(ctx context.Context) error
}

// PutDeferred puts a blob in b whose durability may wait for SyncDeferred:
// with b's own PutDeferred when b is a DeferredSyncBlobs, else with Put
// (durable at once).
func PutDeferred(ctx context.Context, b Blobs, path string, r io.Reader) error {
	if d, ok := b.(DeferredSyncBlobs); ok {
		return d.PutDeferred(ctx, path, r)
	}
	return b.Put(ctx, path, r)
}

// StageDeferred stages a blob in b whose durability may wait for
// SyncDeferred; see Stage.
func StageDeferred(ctx context.Context, b Blobs, path string, data []byte) (StagedBlob, error) {
	if d, ok := b.(DeferredSyncBlobs); ok {
		return d.StageDeferred(ctx, path, bytes.NewReader(data))
	}
	return Stage(ctx, b, path, data)
}

// SyncDeferred makes the deferred writes made to b so far durable (a no-op
// for stores whose writes are durable at once).
func SyncDeferred(ctx context.Context, b Blobs) error {
	if d, ok := b.(DeferredSyncBlobs); ok {
		return d.Sync(ctx)
	}
	return nil
}
