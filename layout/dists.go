package layout

import "strings"

// DistKind is what kind of package-manager file a release file is, as told
// by its name.
type DistKind int

// The kinds of release file the pip and npm views list.
const (
	// NotDist is any other file: listed by neither view.
	NotDist DistKind = iota
	// Wheel is a Python built distribution ("name-1.0-py3-none-any.whl").
	Wheel
	// Sdist is a Python source distribution ("name-1.0.tar.gz", or the
	// legacy ".zip").
	Sdist
	// NpmTarball is an npm package tarball (".tgz"); whether it belongs to
	// the project is told by its package.json, not its name.
	NpmTarball
)

// String names the kind as the packaging specifications do.
func (k DistKind) String() string {
	switch k {
	case Wheel:
		return "wheel"
	case Sdist:
		return "sdist"
	case NpmTarball:
		return "npm tarball"
	}
	return "other"
}

// DistOf classifies a release file of project by its name. A wheel
// ("{distribution}-{version}(-{build})?-{python}-{abi}-{platform}.whl") or
// an sdist ("{name}-{version}.tar.gz") counts only when its distribution
// name normalizes to the project's name (PEP 503), as pip requires; version
// is the version its name gives (pip installs by it). Any ".tgz" is an npm
// tarball candidate.
func DistOf(project, filename string) (kind DistKind, version string) {
	switch {
	case strings.HasSuffix(filename, ".whl"):
		parts := strings.Split(strings.TrimSuffix(filename, ".whl"), "-")
		if len(parts) != 5 && len(parts) != 6 {
			return NotDist, ""
		}
		if len(parts) == 6 && (parts[2] == "" || parts[2][0] < '0' || parts[2][0] > '9') {
			return NotDist, "" // a build tag starts with a digit
		}
		for _, p := range parts {
			if p == "" {
				return NotDist, ""
			}
		}
		if Normalize(parts[0]) != project {
			return NotDist, ""
		}
		return Wheel, parts[1]
	case strings.HasSuffix(filename, ".tar.gz"), strings.HasSuffix(filename, ".zip"):
		base := strings.TrimSuffix(strings.TrimSuffix(filename, ".tar.gz"), ".zip")
		i := strings.LastIndexByte(base, '-')
		if i <= 0 || i == len(base)-1 || Normalize(base[:i]) != project {
			return NotDist, ""
		}
		return Sdist, base[i+1:]
	case strings.HasSuffix(filename, ".tgz") && len(filename) > len(".tgz"):
		return NpmTarball, ""
	}
	return NotDist, ""
}
