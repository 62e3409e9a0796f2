package layout

import (
	"fmt"
	"regexp"
	"strings"
)

// MaxNameLength is the longest project name accepted, in bytes. The longest
// real PyPI name is 188 bytes; role file names stay far below file-system limits.
const MaxNameLength = 200

var (
	validName   = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$`)
	separatorRe = regexp.MustCompile(`[-_.]+`)
)

// reserved are names no project may take: TUF's top-level role names and the
// words Hallmark uses for its own roles and URLs.
var reserved = map[string]bool{
	"root": true, "targets": true, "snapshot": true, "timestamp": true,
	"claimed": true, "new": true, "archive": true, "blocked": true,
	"metadata": true, "api": true, "healthz": true, "metrics": true,
	"hallmark": true, "index": true, "mirrors": true,
}

// Normalize returns the canonical form of a project name, as PEP 503 does:
// lower case, every run of '-', '_' and '.' replaced by a single '-'. Two
// names with the same normal form are the same project. Normalize does not
// validate; call ParseProjectName for untrusted input.
func Normalize(name string) string {
	return separatorRe.ReplaceAllString(strings.ToLower(name), "-")
}

// ParseProjectName validates a project name as typed by a user and returns its
// normalized form. The error says what is wrong and what is allowed.
func ParseProjectName(name string) (string, error) {
	switch {
	case name == "":
		return "", fmt.Errorf("project name is empty")
	case len(name) > MaxNameLength:
		return "", fmt.Errorf("project name is %d bytes long; the limit is %d", len(name), MaxNameLength)
	case !validName.MatchString(name):
		return "", fmt.Errorf("project name %q is not valid: use ASCII letters, digits, '-', '_' and '.', starting and ending with a letter or digit", name)
	}
	n := Normalize(name)
	if reserved[n] {
		return "", fmt.Errorf("project name %q is reserved; choose another name", name)
	}
	return n, nil
}

// IsNormalizedProject reports whether s is already a valid, normalized project
// name (the form used in role names, paths and URLs).
func IsNormalizedProject(s string) bool {
	n, err := ParseProjectName(s)
	return err == nil && n == s
}
