package layout_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"hallmark.dev/hallmark/layout"
)

var (
	shaA = strings.Repeat("a", 64)
	shaB = strings.Repeat("b", 64)
)

func sampleIndex() *layout.Index {
	return &layout.Index{Project: "demo", Releases: []layout.Release{
		{Version: "1.0.0", Files: []layout.FileEntry{{Name: "demo-1.0.0.whl", SHA256: shaB, Length: 20}, {Name: "demo-1.0.0.tar.gz", SHA256: shaA, Length: 10}}},
		{Version: "2.0.0-rc.1", Files: []layout.FileEntry{{Name: "demo-2.0.0rc1.tar.gz", SHA256: shaA, Length: 11}}},
		{Version: "1.1.0", Yanked: true, YankedReason: "broken build", Files: []layout.FileEntry{{Name: "demo-1.1.0.tar.gz", SHA256: shaB, Length: 12}}},
	}}
}

func TestIndexMarshalParseRoundTrip(t *testing.T) {
	ix := sampleIndex()
	b, err := ix.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	got, err := layout.ParseIndex(b)
	if err != nil {
		t.Fatalf("ParseIndex(Marshal()): %v\n%s", err, b)
	}
	if vs := got.Versions(); strings.Join(vs, " ") != "2.0.0-rc.1 1.1.0 1.0.0" {
		t.Errorf("Versions() = %v", vs)
	}
	// Canonical form: releases newest first, files by name; re-encoding
	// gives the same bytes, whatever order the input had.
	if got.Releases[0].Version != "2.0.0-rc.1" || got.Releases[2].Files[0].Name != "demo-1.0.0.tar.gz" {
		t.Errorf("Marshal is not canonical: %s", b)
	}
	b2, err := got.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, b2) {
		t.Errorf("re-encoding changed the index:\n%s\n%s", b, b2)
	}
	r, ok := got.Release("1.1.0")
	if !ok || !r.Yanked || r.YankedReason != "broken build" {
		t.Errorf("Release(1.1.0) = %+v, %v", r, ok)
	}
	if _, ok := got.Release("9.9.9"); ok {
		t.Error("Release(9.9.9) found a release that does not exist")
	}
	// Marshal does not reorder the caller's index.
	if ix.Releases[0].Version != "1.0.0" || ix.Releases[0].Files[0].Name != "demo-1.0.0.whl" {
		t.Error("Marshal modified its receiver")
	}
}

func TestEmptyIndexMarshalsAsLists(t *testing.T) {
	b, err := (&layout.Index{Project: "demo"}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"project":"demo","releases":[]}` {
		t.Errorf("empty index = %s", b)
	}
	if _, err := layout.ParseIndex(b); err != nil {
		t.Errorf("ParseIndex(empty index): %v", err)
	}
}

func TestParseIndexIsStrict(t *testing.T) {
	file := `{"name":"f.tar.gz","sha256":"` + shaA + `","length":1}`
	tests := []struct {
		desc, json string
	}{
		{"not JSON", `{`},
		{"not an object", `[]`},
		{"unknown top-level field", `{"project":"demo","releases":[],"extra":1}`},
		{"unknown release field", `{"project":"demo","releases":[{"version":"1.0.0","files":[],"signed_by":"x"}]}`},
		{"unknown file field", `{"project":"demo","releases":[{"version":"1.0.0","files":[{"name":"f","sha256":"` + shaA + `","length":1,"url":"http://evil"}]}]}`},
		// encoding/json matches field names case-insensitively; a reader in
		// another language would not see "Releases" as "releases".
		{"field name in another case", `{"project":"demo","Releases":[]}`},
		{"trailing data", `{"project":"demo","releases":[]}{}`},
		{"trailing garbage", `{"project":"demo","releases":[]} x`},
		{"unnormalized project", `{"project":"Demo","releases":[]}`},
		{"reserved project", `{"project":"root","releases":[]}`},
		{"no project", `{"releases":[]}`},
		{"bad version", `{"project":"demo","releases":[{"version":"1.0","files":[` + file + `]}]}`},
		{"duplicate version", `{"project":"demo","releases":[{"version":"1.0.0","files":[` + file + `]},{"version":"1.0.0","files":[` + file + `]}]}`},
		{"duplicate file", `{"project":"demo","releases":[{"version":"1.0.0","files":[` + file + `,` + file + `]}]}`},
		{"bad file name", `{"project":"demo","releases":[{"version":"1.0.0","files":[{"name":"../x","sha256":"` + shaA + `","length":1}]}]}`},
		{"short sha", `{"project":"demo","releases":[{"version":"1.0.0","files":[{"name":"f","sha256":"abc","length":1}]}]}`},
		{"upper-case sha", `{"project":"demo","releases":[{"version":"1.0.0","files":[{"name":"f","sha256":"` + strings.ToUpper(shaA) + `","length":1}]}]}`},
		{"non-hex sha", `{"project":"demo","releases":[{"version":"1.0.0","files":[{"name":"f","sha256":"` + strings.Repeat("g", 64) + `","length":1}]}]}`},
		{"negative length", `{"project":"demo","releases":[{"version":"1.0.0","files":[{"name":"f","sha256":"` + shaA + `","length":-1}]}]}`},
		{"yank reason without yank", `{"project":"demo","releases":[{"version":"1.0.0","yanked_reason":"x","files":[` + file + `]}]}`},
		{"too large", `{"project":"demo","releases":[]}` + strings.Repeat(" ", layout.MaxIndexSize)},
	}
	for _, tt := range tests {
		if ix, err := layout.ParseIndex([]byte(tt.json)); err == nil {
			t.Errorf("%s: ParseIndex accepted %+v", tt.desc, ix)
		}
	}
}

// "latest" is what a downloader gets without naming a version: never a
// yanked release (PEP 592) and never a pre-release.
func TestLatest(t *testing.T) {
	rel := func(v string, yanked bool) layout.Release {
		return layout.Release{Version: v, Yanked: yanked}
	}
	tests := []struct {
		desc     string
		releases []layout.Release
		want     string // "" means ErrNoLatest
	}{
		{"highest release", []layout.Release{rel("1.0.0", false), rel("1.10.0", false), rel("1.9.0", false)}, "1.10.0"},
		{"skips yanked", []layout.Release{rel("1.0.0", false), rel("2.0.0", true)}, "1.0.0"},
		{"skips pre-releases", []layout.Release{rel("1.0.0", false), rel("2.0.0-rc.1", false)}, "1.0.0"},
		{"release above its pre-release", []layout.Release{rel("2.0.0-rc.1", false), rel("2.0.0", false)}, "2.0.0"},
		{"nothing", nil, ""},
		{"only yanked", []layout.Release{rel("1.0.0", true)}, ""},
		{"only pre-releases", []layout.Release{rel("1.0.0-alpha", false), rel("1.0.0-beta", false)}, ""},
	}
	for _, tt := range tests {
		ix := &layout.Index{Project: "demo", Releases: tt.releases}
		got, err := ix.Latest()
		switch {
		case tt.want == "" && !errors.Is(err, layout.ErrNoLatest):
			t.Errorf("%s: Latest() = %v, %v; want ErrNoLatest", tt.desc, got, err)
		case tt.want != "" && (err != nil || got.Version != tt.want):
			t.Errorf("%s: Latest() = %v, %v; want %s", tt.desc, got, err, tt.want)
		}
	}
}
