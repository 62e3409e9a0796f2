package layout_test

import (
	"bytes"
	"strings"
	"testing"

	"hallmark.dev/hallmark/layout"
)

// Fuzz targets for the rules every untrusted name, version, path, index
// and settings document goes through. Each checks a property beyond "does
// not panic": what is accepted is canonical and parses again to itself.
// Seed corpora: testdata/fuzz/<target>/.

func FuzzParseProjectName(f *testing.F) {
	for _, s := range []string{"hello-world", "Hello_World", "a", "a..b", "-x-", "targets", "Root", "ﬁle", "hello\u200bworld", strings.Repeat("a", 200)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		n, err := layout.ParseProjectName(name)
		if err != nil {
			if n != "" {
				t.Fatalf("ParseProjectName(%q) = %q with error %v", name, n, err)
			}
			return
		}
		if !layout.IsNormalizedProject(n) {
			t.Fatalf("ParseProjectName(%q) = %q, which is not normalized", name, n)
		}
		if again, err := layout.ParseProjectName(n); err != nil || again != n {
			t.Fatalf("ParseProjectName(%q) = %q, %v; want itself", n, again, err)
		}
		if n != layout.Normalize(name) || len(n) > len(name) || strings.ContainsAny(n, "/\\. _") {
			t.Fatalf("ParseProjectName(%q) = %q: not the normal form, or holds a separator", name, n)
		}
	})
}

func FuzzParseVersion(f *testing.F) {
	for _, s := range []string{"1.0.0", "2.0.0-rc.1", "1.0.0+build.5", "01.0.0", "1.0", "1.0.0-", "18446744073709551616.0.0", "1.0.0-alpha..1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := layout.ParseVersion(s)
		if err != nil {
			return
		}
		if v.String() != s || len(s) > layout.MaxVersionLength {
			t.Fatalf("ParseVersion(%q).String() = %q", s, v.String())
		}
		if v.Compare(v) != 0 {
			t.Fatalf("%q does not compare equal to itself", s)
		}
		w, err := layout.ParseVersion(v.String())
		if err != nil || w.Compare(v) != 0 {
			t.Fatalf("%q does not parse again to itself: %v", s, err)
		}
	})
}

func FuzzParseTargetPath(f *testing.F) {
	for _, s := range []string{"p/index.json", "p/1.0.0/p-1.0.0.tar.gz", "p/../x", "P/1.0.0/x", "p/1.0.0/../../x", "p//x", "p/1.0.0/x\\y", "p/1.0.0/.x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		tp, err := layout.ParseTargetPath(p)
		if err != nil {
			return
		}
		if tp.String() != p {
			t.Fatalf("ParseTargetPath(%q).String() = %q", p, tp.String())
		}
		if !layout.IsNormalizedProject(tp.Project) || strings.Contains(p, "..") || strings.Contains(p, "\\") || strings.Contains(p, "//") || strings.HasPrefix(p, "/") {
			t.Fatalf("ParseTargetPath accepted %q, which could leave its project", p)
		}
		for _, pattern := range layout.DelegationPaths(tp.Project) {
			if matchGlob(pattern, p) {
				return
			}
		}
		t.Fatalf("%q is not inside its project's delegation %v", p, layout.DelegationPaths(tp.Project))
	})
}

// matchGlob is TUF's path pattern match: '*' matches within one segment.
func matchGlob(pattern, p string) bool {
	ps, xs := strings.Split(pattern, "/"), strings.Split(p, "/")
	if len(ps) != len(xs) {
		return false
	}
	for i := range ps {
		if ps[i] != "*" && ps[i] != xs[i] {
			return false
		}
	}
	return true
}

func FuzzParseIndex(f *testing.F) {
	f.Add([]byte(`{"project":"p","releases":[{"version":"1.0.0","files":[{"name":"p-1.0.0.tar.gz","sha256":"` + strings.Repeat("ab", 32) + `","length":3}]}]}`))
	f.Add([]byte(`{"project":"p","releases":[]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		ix, err := layout.ParseIndex(b)
		if err != nil {
			return
		}
		canon, err := ix.Marshal()
		if err != nil || !bytes.Equal(canon, b) {
			t.Fatalf("ParseIndex accepted a non-canonical index:\n%s\ncanonical:\n%s", b, canon)
		}
		for _, v := range ix.Versions() {
			if _, ok := ix.Release(v); !ok {
				t.Fatalf("version %s listed but not found", v)
			}
		}
		ix.Latest()
	})
}

func FuzzParseSettings(f *testing.F) {
	good, err := layout.DefaultSettings().MarshalJSON()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := layout.ParseSettings(b)
		if err != nil {
			return
		}
		if err := s.Check(); err != nil {
			t.Fatalf("ParseSettings accepted settings that fail Check: %v", err)
		}
		again, err := s.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := layout.ParseSettings(again); err != nil {
			t.Fatalf("settings do not parse again after encoding: %v\n%s", err, again)
		}
	})
}

func FuzzParseMetadataFile(f *testing.F) {
	for _, s := range []string{"1.root.json", "12.p.releases.json", "timestamp.json", "01.root.json", "1..json", "9999999999999999999.x.json"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, file string) {
		role, v, ok := layout.ParseMetadataFile(file)
		if ok && (layout.MetadataFile(role, v) != file || v < 0) {
			t.Fatalf("ParseMetadataFile(%q) = %q, %d: does not name the file", file, role, v)
		}
	})
}
