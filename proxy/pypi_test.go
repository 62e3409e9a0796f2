package proxy

import (
	"net/http/httptest"
	"strings"
	"testing"

	"hallmark.dev/hallmark/client"
	"hallmark.dev/hallmark/layout"
)

func TestWantsJSON(t *testing.T) {
	for _, tc := range []struct {
		url, accept string
		want        bool
	}{
		// pip 23's header.
		{"/pypi/simple/x/", "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01", true},
		{"/pypi/simple/x/", "text/html", false},
		{"/pypi/simple/x/", "", false},
		{"/pypi/simple/x/", "text/html, application/vnd.pypi.simple.v1+json; q=0.5", false},
		{"/pypi/simple/x/", "application/vnd.pypi.simple.latest+json", true},
		{"/pypi/simple/x/?format=application/vnd.pypi.simple.v1+json", "text/html", true},
		{"/pypi/simple/x/", "application/vnd.pypi.simple.v1+json; q=nonsense, text/html; q=0.2", false},
	} {
		r := httptest.NewRequest("GET", tc.url, nil)
		r.Header.Set("Accept", tc.accept)
		if got := wantsJSON(r); got != tc.want {
			t.Errorf("wantsJSON(%s, Accept %q) = %v; want %v", tc.url, tc.accept, got, tc.want)
		}
	}
}

func TestProjectPage(t *testing.T) {
	file := func(name string) layout.FileEntry {
		return layout.FileEntry{Name: name, SHA256: strings.Repeat("ab", 32), Length: 3}
	}
	p := &client.Project{Name: "hm-demo", Index: &layout.Index{Project: "hm-demo", Releases: []layout.Release{
		{Version: "2.0.0", Yanked: true, YankedReason: `broken "badly" <b>`, Files: []layout.FileEntry{file("hm_demo-2.0.0-py3-none-any.whl"), file("hm-demo-2.0.0.tgz")}},
		{Version: "1.0.0", Files: []layout.FileEntry{file("NOTES.txt"), file("hm_demo-1.0.0.tar.gz"), file("other-1.0.0.tar.gz")}},
	}}}
	files := pypiFiles("http://127.0.0.1:1", p)
	var names []string
	for _, f := range files {
		names = append(names, f.Filename)
	}
	if got := strings.Join(names, " "); got != "hm_demo-2.0.0-py3-none-any.whl hm_demo-1.0.0.tar.gz" {
		t.Fatalf("listed %s; want the wheel and the sdist only", got)
	}
	if files[0].Yanked != `broken "badly" <b>` || files[1].Yanked != nil {
		t.Errorf("yanked: %v, %v", files[0].Yanked, files[1].Yanked)
	}
	if files[0].URL != "http://127.0.0.1:1/files/hm-demo/2.0.0/hm_demo-2.0.0-py3-none-any.whl" {
		t.Errorf("url %s", files[0].URL)
	}
	var b strings.Builder
	if err := projectHTML.Execute(&b, map[string]any{"Name": p.Name, "Files": files}); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	for _, want := range []string{
		`href="http://127.0.0.1:1/files/hm-demo/2.0.0/hm_demo-2.0.0-py3-none-any.whl#sha256=` + strings.Repeat("ab", 32) + `" data-yanked="broken &#34;badly&#34; &lt;b&gt;">`,
		`hm_demo-1.0.0.tar.gz#sha256=` + strings.Repeat("ab", 32) + `">hm_demo-1.0.0.tar.gz</a>`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %s:\n%s", want, page)
		}
	}
}
