package layout_test

import (
	"testing"

	"hallmark.dev/hallmark/layout"
)

func TestDistOf(t *testing.T) {
	for _, tc := range []struct {
		project, file string
		kind          layout.DistKind
		version       string
	}{
		{"hello-world", "hello_world-1.0.0-py3-none-any.whl", layout.Wheel, "1.0.0"},
		{"hello-world", "Hello.World-2.0-1-cp311-cp311-manylinux_2_17_x86_64.whl", layout.Wheel, "2.0"},
		{"hello-world", "hello_world-2.0-x-cp311-cp311-linux_x86_64.whl", layout.NotDist, ""}, // build tag must start with a digit
		{"hello-world", "hello_world-1.0.0-py3-none.whl", layout.NotDist, ""},                 // too few tags
		{"hello-world", "other-1.0.0-py3-none-any.whl", layout.NotDist, ""},                   // another distribution
		{"hello-world", "hello_world--py3-none-any.whl", layout.NotDist, ""},                  // empty version
		{"hello-world", "hello_world-1.0.0.tar.gz", layout.Sdist, "1.0.0"},
		{"hello-world", "hello-world-1.0.0.tar.gz", layout.Sdist, "1.0.0"}, // legacy, un-normalized name
		{"hello-world", "hello-world-1.0.0.zip", layout.Sdist, "1.0.0"},
		{"hello-world", "hello-1.0.0.tar.gz", layout.NotDist, ""},
		{"hello-world", "hello_world-.tar.gz", layout.NotDist, ""},
		{"hello-world", "-1.0.tar.gz", layout.NotDist, ""},
		{"hello-world", "hello-world-1.0.0.tgz", layout.NpmTarball, ""},
		{"hello-world", ".tgz", layout.NotDist, ""},
		{"hello-world", "hello.py", layout.NotDist, ""},
		{"hello-world", "hello_world-1.0.0.tar.bz2", layout.NotDist, ""},
	} {
		kind, version := layout.DistOf(tc.project, tc.file)
		if kind != tc.kind || version != tc.version {
			t.Errorf("DistOf(%q, %q) = %v %q; want %v %q", tc.project, tc.file, kind, version, tc.kind, tc.version)
		}
	}
}
