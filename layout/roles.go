package layout

import "strings"

// Top-level role names, as TUF fixes them.
const (
	RoleRoot      = "root"
	RoleTargets   = "targets"
	RoleSnapshot  = "snapshot"
	RoleTimestamp = "timestamp"
)

// releasesSuffix ends the name of a project's releases role. Normalized
// project names never contain '.', so "<project>.releases" cannot collide
// with a project, and "claimed.<shard>" / "new.<shard>" cannot either.
const releasesSuffix = ".releases"

// ClaimedRole is the offline bin of a shard that delegates claimed projects.
func ClaimedRole(shard string) string { return "claimed." + shard }

// NewRole is the online bin of a shard that delegates projects not yet claimed.
func NewRole(shard string) string { return "new." + shard }

// OwnersRole is the project's own role, signed by its owners; it delegates to
// the releases role.
func OwnersRole(project string) string { return project }

// ReleasesRole is the project's releases role, signed by its maintainers; it
// lists the release files and the project index.
func ReleasesRole(project string) string { return project + releasesSuffix }

// RoleKind classifies a role name.
type RoleKind int

// The kinds of role in a shard.
const (
	KindUnknown RoleKind = iota
	KindTopLevel
	KindClaimed
	KindNew
	KindOwners
	KindReleases
)

// ParseRole returns the kind of a role name and, for bins, the shard, or for
// project roles, the project.
func ParseRole(name string) (RoleKind, string) {
	switch {
	case name == RoleRoot || name == RoleTargets || name == RoleSnapshot || name == RoleTimestamp:
		return KindTopLevel, ""
	case strings.HasPrefix(name, "claimed.") && isShardish(strings.TrimPrefix(name, "claimed.")):
		return KindClaimed, strings.TrimPrefix(name, "claimed.")
	case strings.HasPrefix(name, "new.") && isShardish(strings.TrimPrefix(name, "new.")):
		return KindNew, strings.TrimPrefix(name, "new.")
	case strings.HasSuffix(name, releasesSuffix):
		p := strings.TrimSuffix(name, releasesSuffix)
		if IsNormalizedProject(p) {
			return KindReleases, p
		}
	case IsNormalizedProject(name):
		return KindOwners, name
	}
	return KindUnknown, ""
}

// isShardish reports whether s could be a shard id of some shard count.
func isShardish(s string) bool {
	for _, n := range ShardCounts {
		if IsShardID(s, n) {
			return true
		}
	}
	return false
}
