package layout_test

import (
	"strings"
	"testing"

	"hallmark.dev/hallmark/layout"
)

func TestParseTargetPathAcceptsTheTwoShapes(t *testing.T) {
	tests := []struct {
		path string
		want layout.TargetPath
	}{
		{"p/index.json", layout.TargetPath{Project: "p"}},
		{"p/1.0.0/f.tar.gz", layout.TargetPath{Project: "p", Version: "1.0.0", File: "f.tar.gz"}},
		{"foo-bar/2.0.0-rc.1/foo_bar-2.0.0rc1-py3-none-any.whl", layout.TargetPath{Project: "foo-bar", Version: "2.0.0-rc.1", File: "foo_bar-2.0.0rc1-py3-none-any.whl"}},
		{"p/1.0.0+build.5/p+linux.tar.gz", layout.TargetPath{Project: "p", Version: "1.0.0+build.5", File: "p+linux.tar.gz"}},
		// "index.json" is only the index at the project's top level.
		{"p/1.0.0/index.json", layout.TargetPath{Project: "p", Version: "1.0.0", File: "index.json"}},
	}
	for _, tt := range tests {
		got, err := layout.ParseTargetPath(tt.path)
		if err != nil {
			t.Errorf("ParseTargetPath(%q): %v", tt.path, err)
			continue
		}
		if got != tt.want {
			t.Errorf("ParseTargetPath(%q) = %+v; want %+v", tt.path, got, tt.want)
		}
		if got.String() != tt.path {
			t.Errorf("ParseTargetPath(%q).String() = %q", tt.path, got.String())
		}
		if got.IsIndex() != (tt.want.Version == "") {
			t.Errorf("ParseTargetPath(%q).IsIndex() = %v", tt.path, got.IsIndex())
		}
	}
}

// Attack: a maintainer signs a path that escapes the project's namespace,
// or that a file system or URL would resolve somewhere else.
func TestParseTargetPathRefusesEscapes(t *testing.T) {
	tests := []struct {
		desc, path string
	}{
		{"empty", ""},
		{"parent directory", "../index.json"},
		{"parent directory inside", "p/../x"},
		{"parent as version", "p/../f.tar.gz"},
		{"parent as file", "p/1.0.0/.."},
		{"dot as file", "p/1.0.0/."},
		{"hidden file", "p/1.0.0/.htaccess"},
		{"empty segment", "p//x"},
		{"empty version", "p//f.tar.gz"},
		{"empty file", "p/1.0.0/"},
		{"trailing slash", "p/"},
		{"non-SemVer version", "p/1.0/f"},
		{"v-prefixed version", "p/v1.0.0/f"},
		{"absolute path", "/p/index.json"},
		{"absolute release path", "/p/1.0.0/f"},
		{"backslash", `p\1.0.0\f`},
		{"backslash in file", `p/1.0.0/..\..\f`},
		{"upper-case project", "P/index.json"},
		{"upper-case project, release", "Foo/1.0.0/f"},
		{"unnormalized project", "foo_bar/1.0.0/f"},
		{"reserved project", "root/index.json"},
		{"too deep", "p/1.0.0/sub/f"},
		{"index under another name", "p/index.json.bak"},
		{"no project", "index.json"},
		{"URL-encoded traversal", "p/1.0.0/%2e%2e"},
		{"space in file", "p/1.0.0/a b"},
		{"NUL in file", "p/1.0.0/a\x00b"},
		{"double dot inside a file name", "p/1.0.0/f..tar.gz"},
		{"too long file", "p/1.0.0/" + strings.Repeat("f", layout.MaxFilenameLength+1)},
	}
	for _, tt := range tests {
		if got, err := layout.ParseTargetPath(tt.path); err == nil {
			t.Errorf("%s: ParseTargetPath(%q) = %+v; want an error", tt.desc, tt.path, got)
		}
	}
}

func TestTargetBlobPathIsContentAddressed(t *testing.T) {
	sum := strings.Repeat("ab", 32)
	tests := []struct{ path, want string }{
		{"p/index.json", "p/" + sum + ".index.json"},
		{"p/1.0.0/f.tar.gz", "p/1.0.0/" + sum + ".f.tar.gz"},
	}
	for _, tt := range tests {
		if got := layout.TargetBlobPath(tt.path, sum); got != tt.want {
			t.Errorf("TargetBlobPath(%q) = %q; want %q", tt.path, got, tt.want)
		}
	}
	// Two contents of one path never share a blob.
	if layout.TargetBlobPath("p/index.json", sum) == layout.TargetBlobPath("p/index.json", strings.Repeat("cd", 32)) {
		t.Error("two hashes of one path map to the same blob")
	}
}

func TestMetadataFileNames(t *testing.T) {
	tests := []struct {
		role    string
		version int64
		want    string
	}{
		{"timestamp", 7, "timestamp.json"},
		{"snapshot", 7, "7.snapshot.json"},
		{"root", 1, "1.root.json"},
		{"claimed.0a", 3, "3.claimed.0a.json"},
		{"foo.releases", 12, "12.foo.releases.json"},
	}
	for _, tt := range tests {
		if got := layout.MetadataFile(tt.role, tt.version); got != tt.want {
			t.Errorf("MetadataFile(%q, %d) = %q; want %q", tt.role, tt.version, got, tt.want)
		}
	}
	if got := layout.MetadataBlobPath("0a", "timestamp.json"); got != "metadata/0a/timestamp.json" {
		t.Errorf("MetadataBlobPath = %q", got)
	}
}

// The delegation patterns of a project must match exactly the paths
// ParseTargetPath accepts for it, and nothing of another project.
func TestDelegationPathsCoverOnlyTheProject(t *testing.T) {
	pats := layout.DelegationPaths("foo")
	for _, p := range pats {
		if !strings.HasPrefix(p, "foo/") {
			t.Errorf("pattern %q does not start with the project", p)
		}
	}
	if len(pats) != 2 || pats[0] != "foo/*" || pats[1] != "foo/*/*" {
		t.Errorf("DelegationPaths(foo) = %v", pats)
	}
	if b := layout.BinPaths(); len(b) != 2 || b[0] != "*/*" || b[1] != "*/*/*" {
		t.Errorf("BinPaths() = %v", b)
	}
}

func TestCheckFilename(t *testing.T) {
	for _, ok := range []string{"a", "foo-1.0.tar.gz", "foo_bar-1.0-py3-none-any.whl", "x+y", "A.B"} {
		if err := layout.CheckFilename(ok); err != nil {
			t.Errorf("CheckFilename(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"", ".", "..", ".x", "-x", "a/b", `a\b`, "a b", "a..b", "é", strings.Repeat("a", layout.MaxFilenameLength+1)} {
		if err := layout.CheckFilename(bad); err == nil {
			t.Errorf("CheckFilename(%q) accepted a bad name", bad)
		}
	}
}

func TestParseMetadataFile(t *testing.T) {
	for _, tt := range []struct {
		file    string
		role    string
		version int64
		ok      bool
	}{
		{"3.requests.releases.json", "requests.releases", 3, true},
		{"1.claimed.a3.json", "claimed.a3", 1, true},
		{"12.root.json", "root", 12, true},
		{"timestamp.json", "", 0, false},
		{"1.json", "", 0, false},
		{"01.root.json", "", 0, false},
		{"x.root.json", "", 0, false},
		{"1.root", "", 0, false},
		{"99999999999999999999.root.json", "", 0, false},
	} {
		role, v, ok := layout.ParseMetadataFile(tt.file)
		if role != tt.role || v != tt.version || ok != tt.ok {
			t.Errorf("ParseMetadataFile(%q) = %q, %d, %v; want %q, %d, %v", tt.file, role, v, ok, tt.role, tt.version, tt.ok)
		}
		if ok && layout.MetadataFile(role, v) != tt.file {
			t.Errorf("MetadataFile(%q, %d) does not give back %q", role, v, tt.file)
		}
	}
}

func TestServedHeadersCacheOnlyImmutableNamesForever(t *testing.T) {
	tests := []struct {
		path, cache, contentType string
	}{
		{layout.MetadataBlobPath("a3", "timestamp.json"), layout.CacheRevalidate, "application/json"},
		{layout.TrustFile, layout.CacheRevalidate, "application/json"},
		{layout.MetadataBlobPath("a3", layout.MetadataFile("snapshot", 7)), layout.CacheImmutable, "application/json"},
		{layout.MetadataBlobPath("a3", layout.MetadataFile("root", 1)), layout.CacheImmutable, "application/json"},
		{"targets/" + layout.TargetBlobPath("demo/1.0.0/demo.tar.gz", "ab"), layout.CacheImmutable, "application/octet-stream"},
		// A project's release file named like the timestamp is still
		// content-addressed: immutable.
		{"targets/" + layout.TargetBlobPath("demo/1.0.0/timestamp.json", "ab"), layout.CacheImmutable, "application/octet-stream"},
	}
	for _, tt := range tests {
		cache, ct := layout.ServedHeaders(tt.path)
		if cache != tt.cache || ct != tt.contentType {
			t.Errorf("layout.ServedHeaders(%q) = %q, %q; want %q, %q", tt.path, cache, ct, tt.cache, tt.contentType)
		}
	}
}
