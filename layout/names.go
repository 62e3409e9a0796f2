package layout

import (
	"fmt"
	"strings"
)

// MaxNameLength is the longest project name accepted, in bytes. The longest
// real PyPI name is 188 bytes; role file names stay far below file-system limits.
const MaxNameLength = 200

// validName reports whether name matches
// ^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$ (checked for every target of
// every upload: a loop, not a regexp).
func validName(name string) bool {
	if name == "" || !isAlnum(name[0]) || !isAlnum(name[len(name)-1]) {
		return false
	}
	for i := 1; i < len(name)-1; i++ {
		if c := name[i]; !isAlnum(c) && !isSeparator(c) {
			return false
		}
	}
	return true
}

// isSeparator reports whether c is one of the characters PEP 503 folds.
func isSeparator(c byte) bool { return c == '-' || c == '_' || c == '.' }

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
	lower := strings.ToLower(name)
	var b strings.Builder
	b.Grow(len(lower))
	// The separators are ASCII, so a byte loop never splits a character.
	for i := 0; i < len(lower); i++ {
		if !isSeparator(lower[i]) {
			b.WriteByte(lower[i])
			continue
		}
		b.WriteByte('-')
		for i+1 < len(lower) && isSeparator(lower[i+1]) {
			i++
		}
	}
	return b.String()
}

// ParseProjectName validates a project name as typed by a user and returns its
// normalized form. The error says what is wrong and what is allowed.
func ParseProjectName(name string) (string, error) {
	switch {
	case name == "":
		return "", fmt.Errorf("project name is empty")
	case len(name) > MaxNameLength:
		return "", fmt.Errorf("project name is %d bytes long; the limit is %d", len(name), MaxNameLength)
	case !validName(name):
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
