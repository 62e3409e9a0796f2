package tufview_test

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"hallmark.dev/hallmark/tufview"
)

func readPage(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestWriteSiteWritesOnePagePerRoleAndTheTree(t *testing.T) {
	dir := t.TempDir()
	goTUFRepo(t, dir)
	tamper(t, filepath.Join(dir, "1.c.json"))
	out := t.TempDir()
	sum, err := tufview.WriteSite(context.Background(), load(t, tufview.Dir(dir)), out, tufview.SiteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Roles != 7 || sum.Verified != 6 || len(sum.Failed) != 1 || sum.Failed[0] != "c" {
		t.Errorf("summary = %+v", sum)
	}
	for _, role := range []string{"root", "timestamp", "snapshot", "targets", "a", "b", "c"} {
		page := readPage(t, filepath.Join(out, role+".html"))
		if !strings.Contains(page, `<link rel="stylesheet" href="style.css">`) {
			t.Errorf("%s.html has no stylesheet", role)
		}
		want := "verified"
		if role == "c" {
			want = "signature check failed"
		}
		if !strings.Contains(page, `id="role-status">`+want+`<`) {
			t.Errorf("%s.html does not say %q", role, want)
		}
	}
	index := readPage(t, filepath.Join(out, "index.html"))
	for _, link := range []string{`href="root.html"`, `href="targets.html"`, `href="a.html"`, `href="b.html"`, `href="c.html"`} {
		if !strings.Contains(index, link) {
			t.Errorf("index.html has no link %s", link)
		}
	}
	// c's page links up the tree to b, and b's page down to c.
	if c := readPage(t, filepath.Join(out, "c.html")); !strings.Contains(c, `<a href="b.html">b</a> ›`) {
		t.Errorf("c.html does not link to its parent b")
	}
	if b := readPage(t, filepath.Join(out, "b.html")); !strings.Contains(b, `<a href="c.html">c</a>`) {
		t.Errorf("b.html does not link to its child c")
	}
	if _, err := os.Stat(filepath.Join(out, "metadata", "2.targets.json")); err != nil {
		t.Errorf("raw file not copied: %v", err)
	}
}

// Attack: metadata is attacker-controlled text. Role names, target paths,
// labels and custom fields must reach the page escaped, and role names
// must not escape the output directory.
func TestHostileMetadataIsEscaped(t *testing.T) {
	dir := t.TempDir()
	k := newEd25519(t)
	root := metadata.Root(expires)
	for _, role := range []string{"root", "timestamp", "snapshot", "targets"} {
		root.Signed.AddKey(k.key, role)
	}
	write := func(name string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("1.root.json", sign(t, root, k))
	const evil = `<script>alert(1)</script>`
	targets := metadata.Targets(expires)
	targets.Signed.Targets[evil+"/x"] = target("x")
	targets.Signed.UnrecognizedFields = map[string]any{"x-hallmark-labels": map[string]any{k.id: evil}, "x-note": evil}
	targets.Signed.Delegations = &metadata.Delegations{Keys: map[string]*metadata.Key{k.id: k.key},
		Roles: []metadata.DelegatedRole{{Name: "../../" + evil, KeyIDs: []string{k.id}, Threshold: 1, Paths: []string{evil}}}}
	write("1.targets.json", sign(t, targets, k))
	child := metadata.Targets(expires)
	child.Signed.Targets[evil] = target("y")
	write("1."+url.PathEscape("../../"+evil)+".json", sign(t, child, k))
	out := filepath.Join(t.TempDir(), "site")
	if _, err := tufview.WriteSite(context.Background(), load(t, tufview.Dir(dir)), out, tufview.SiteOptions{Now: time.Now()}); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(filepath.Dir(out))
	if len(entries) != 1 {
		t.Errorf("WriteSite wrote outside its directory: %v", entries)
	}
	filepath.WalkDir(out, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".html") {
			return err
		}
		page := readPage(t, path)
		if strings.Contains(page, "<script") {
			t.Errorf("%s holds a raw <script>", path)
		}
		return nil
	})
	if page := readPage(t, filepath.Join(out, "targets.html")); !strings.Contains(page, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Errorf("targets.html does not show the hostile text escaped")
	}
}
