package layout

import (
	"fmt"
	"strconv"
	"strings"
)

// IndexFile is the base name of a project's index target.
const IndexFile = "index.json"

// MaxFilenameLength is the longest release file name accepted.
const MaxFilenameLength = 200

// validFilename reports whether name matches ^[A-Za-z0-9][A-Za-z0-9._+-]*$
// (every index entry and target path is checked: a loop, not a regexp).
func validFilename(name string) bool {
	if name == "" || !isAlnum(name[0]) {
		return false
	}
	for i := 1; i < len(name); i++ {
		if c := name[i]; !isAlnum(c) && c != '.' && c != '_' && c != '+' && c != '-' {
			return false
		}
	}
	return true
}

// isAlnum reports whether c is an ASCII letter or digit.
func isAlnum(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

// IndexPath is the target path of a project's index.
func IndexPath(project string) string { return project + "/" + IndexFile }

// FilePath is the target path of one release file.
func FilePath(project, version, filename string) string {
	return project + "/" + version + "/" + filename
}

// DelegationPaths are the path patterns of every delegation to a project's
// roles. TUF patterns match segment by segment, so both depths are listed.
func DelegationPaths(project string) []string {
	return []string{project + "/*", project + "/*/*"}
}

// BinPaths are the path patterns of the claimed and new bins: every project.
func BinPaths() []string { return []string{"*/*", "*/*/*"} }

// CheckFilename returns an error unless name may be used as a release file name.
func CheckFilename(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("file name is empty")
	case len(name) > MaxFilenameLength:
		return fmt.Errorf("file name %q is longer than %d bytes", name, MaxFilenameLength)
	case !validFilename(name):
		return fmt.Errorf("file name %q is not valid: use ASCII letters, digits, '.', '_', '+' and '-', starting with a letter or digit", name)
	case strings.Contains(name, ".."):
		// Servers and caches treat ".." in a URL path specially.
		return fmt.Errorf("file name %q contains \"..\"; use single dots", name)
	}
	return nil
}

// TargetPath is a parsed target path: either a project's index (Version and
// File empty) or one release file.
type TargetPath struct {
	Project string
	Version string
	File    string
}

// IsIndex reports whether the path is the project's index.
func (t TargetPath) IsIndex() bool { return t.Version == "" }

// String returns the target path.
func (t TargetPath) String() string {
	if t.IsIndex() {
		return IndexPath(t.Project)
	}
	return FilePath(t.Project, t.Version, t.File)
}

// ParseTargetPath parses and validates a target path. It refuses anything
// that is not exactly "<project>/index.json" or "<project>/<version>/<file>"
// with a normalized project, a SemVer version and a valid file name, so no
// path can escape its project (no "..", no empty segment, no backslash).
func ParseTargetPath(p string) (TargetPath, error) {
	parts := strings.Split(p, "/")
	switch {
	case len(parts) == 2 && parts[1] == IndexFile:
		if !IsNormalizedProject(parts[0]) {
			return TargetPath{}, fmt.Errorf("target path %q: %q is not a normalized project name", p, parts[0])
		}
		return TargetPath{Project: parts[0]}, nil
	case len(parts) == 3:
		if !IsNormalizedProject(parts[0]) {
			return TargetPath{}, fmt.Errorf("target path %q: %q is not a normalized project name", p, parts[0])
		}
		if _, err := ParseVersion(parts[1]); err != nil {
			return TargetPath{}, fmt.Errorf("target path %q: %w", p, err)
		}
		if err := CheckFilename(parts[2]); err != nil {
			return TargetPath{}, fmt.Errorf("target path %q: %w", p, err)
		}
		return TargetPath{Project: parts[0], Version: parts[1], File: parts[2]}, nil
	}
	return TargetPath{}, fmt.Errorf("target path %q is not <project>/index.json or <project>/<version>/<file>", p)
}

// TargetBlobPath is where a target's bytes are stored and served below the
// targets URL: the TUF consistent-snapshot name "<dir>/<sha256>.<base>".
func TargetBlobPath(targetPath, sha256hex string) string {
	i := strings.LastIndexByte(targetPath, '/')
	return targetPath[:i+1] + sha256hex + "." + targetPath[i+1:]
}

// MetadataFile is the file name of a role's metadata at a version, as served
// in a shard's metadata directory with consistent snapshots. The timestamp is
// always served unversioned.
func MetadataFile(role string, version int64) string {
	if role == RoleTimestamp {
		return RoleTimestamp + ".json"
	}
	return fmt.Sprintf("%d.%s.json", version, role)
}

// MetadataBlobPath is where a shard's metadata file is stored and served
// below the repository URL.
func MetadataBlobPath(shard, file string) string {
	return "metadata/" + shard + "/" + file
}

// TrustFile is the repository's trust summary, served at
// <repo>/metadata/trust.json: what `hallmark trust` shows and pins.
const TrustFile = "metadata/trust.json"

// Cache-Control values of served files.
const (
	// CacheImmutable is for names whose content never changes: versioned
	// metadata and content-addressed target files.
	CacheImmutable = "public, max-age=31536000, immutable"
	// CacheRevalidate is for the names every publication rewrites
	// (timestamp.json, the trust file): a cache may keep them but must ask
	// the origin before each use, which answers 304 when nothing changed.
	CacheRevalidate = "no-cache"
)

// ServedHeaders returns the Cache-Control and Content-Type with which a
// blob path is served, by the server or by a bucket or CDN serving the
// blobs directly.
func ServedHeaders(path string) (cacheControl, contentType string) {
	cacheControl = CacheImmutable
	if strings.HasSuffix(path, "/"+RoleTimestamp+".json") || path == TrustFile {
		cacheControl = CacheRevalidate
	}
	contentType = "application/octet-stream"
	if strings.HasPrefix(path, "metadata/") {
		contentType = "application/json"
	}
	return cacheControl, contentType
}

// ParseMetadataFile parses a versioned metadata file name as MetadataFile
// writes it ("<N>.<role>.json"); timestamp.json and other names are not
// versioned files (ok false).
func ParseMetadataFile(file string) (role string, version int64, ok bool) {
	num, rest, found := strings.Cut(file, ".")
	role, isJSON := strings.CutSuffix(rest, ".json")
	if !found || !isJSON || role == "" || num == "" || strings.Trim(num, "0123456789") != "" || len(num) > 18 {
		return "", 0, false
	}
	v, err := strconv.ParseInt(num, 10, 64)
	if err != nil || MetadataFile(role, v) != file {
		return "", 0, false
	}
	return role, v, true
}
