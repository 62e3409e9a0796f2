package layout

import (
	"cmp"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// MaxVersionLength bounds a version string.
const MaxVersionLength = 64

// The SemVer 2.0.0 grammar, from semver.org, anchored.
var semverRe = regexp.MustCompile(`^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)` +
	`(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?` +
	`(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$`)

// Version is a parsed SemVer 2.0.0 version.
type Version struct {
	Major, Minor, Patch uint64
	Pre                 []string // pre-release identifiers, empty for a release
	Build               string   // build metadata, ignored for precedence
	raw                 string
}

// ParseVersion parses a SemVer 2.0.0 version string ("1.4.0", "2.0.0-rc.1").
func ParseVersion(s string) (Version, error) {
	if len(s) > MaxVersionLength {
		return Version{}, fmt.Errorf("version %q is longer than %d bytes", s, MaxVersionLength)
	}
	m := semverRe.FindStringSubmatch(s)
	if m == nil {
		return Version{}, fmt.Errorf("version %q is not a SemVer 2.0 version (like 1.4.0 or 2.0.0-rc.1)", s)
	}
	v := Version{raw: s, Build: m[5]}
	var err error
	for i, dst := range []*uint64{&v.Major, &v.Minor, &v.Patch} {
		if *dst, err = strconv.ParseUint(m[i+1], 10, 64); err != nil {
			return Version{}, fmt.Errorf("version %q: number too large", s)
		}
	}
	if m[4] != "" {
		v.Pre = strings.Split(m[4], ".")
	}
	return v, nil
}

// String returns the version as it was written.
func (v Version) String() string { return v.raw }

// IsPrerelease reports whether the version has pre-release identifiers.
func (v Version) IsPrerelease() bool { return len(v.Pre) > 0 }

// Compare orders versions by SemVer precedence; versions of equal precedence
// (differing only in build metadata) are ordered by their text so the order
// is total.
func (v Version) Compare(w Version) int {
	if c := cmp.Compare(v.Major, w.Major); c != 0 {
		return c
	}
	if c := cmp.Compare(v.Minor, w.Minor); c != 0 {
		return c
	}
	if c := cmp.Compare(v.Patch, w.Patch); c != 0 {
		return c
	}
	if c := comparePre(v.Pre, w.Pre); c != 0 {
		return c
	}
	return strings.Compare(v.Build, w.Build)
}

// SameRelease reports whether v and w have equal SemVer precedence: they
// differ at most in build metadata ("1.2.0+build.1" and "1.2.0+build.2"),
// so they name the same release.
func (v Version) SameRelease(w Version) bool {
	return v.Major == w.Major && v.Minor == w.Minor && v.Patch == w.Patch && comparePre(v.Pre, w.Pre) == 0
}

func comparePre(a, b []string) int {
	switch {
	case len(a) == 0 && len(b) == 0:
		return 0
	case len(a) == 0:
		return 1 // a release ranks above its pre-releases
	case len(b) == 0:
		return -1
	}
	for i := 0; i < len(a) && i < len(b); i++ {
		an, bn := isNumeric(a[i]), isNumeric(b[i])
		switch {
		case an && bn:
			// No leading zeros (the grammar forbids them), so a longer number
			// is larger, and equal lengths compare as text, at any size.
			if c := cmp.Compare(len(a[i]), len(b[i])); c != 0 {
				return c
			}
			if c := strings.Compare(a[i], b[i]); c != 0 {
				return c
			}
		case an:
			return -1 // numeric identifiers rank below alphanumeric ones
		case bn:
			return 1
		default:
			if c := strings.Compare(a[i], b[i]); c != 0 {
				return c
			}
		}
	}
	return cmp.Compare(len(a), len(b))
}

// SortVersionsDesc sorts version strings newest first. Strings that do not
// parse sort last, in text order.
func SortVersionsDesc(vs []string) {
	slices.SortStableFunc(vs, func(a, b string) int {
		va, ea := ParseVersion(a)
		vb, eb := ParseVersion(b)
		switch {
		case ea != nil && eb != nil:
			return strings.Compare(a, b)
		case ea != nil:
			return 1
		case eb != nil:
			return -1
		}
		return vb.Compare(va)
	})
}

func isNumeric(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}
