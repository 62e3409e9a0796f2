package tufview

import (
	"bytes"
	"context"
	"embed"
	"fmt"
	"html/template"
	"net/url"
	"os"
	"path/filepath"
	"time"
)

//go:embed templates
var files embed.FS

// Templates parses the viewer's templates. Pages of other packages may add
// their own templates to the result and use the components it defines:
// "tv-role" (a role's page body, given a RoleView), "tv-tree" (a TreeNode),
// "tv-link", "tv-expiry", "tv-keyref", "tv-keys", "tv-delegations" and
// "tv-head" (the <head> contents, given the stylesheet's URL).
func Templates() (*template.Template, error) {
	return template.New("tufview").ParseFS(files, "templates/*.html")
}

// Stylesheet is the CSS the templates are written for.
func Stylesheet() []byte {
	b, _ := files.ReadFile("templates/style.css")
	return b
}

// siteLinks links the pages of a static site: pages beside each other,
// raw files in metadata/.
type siteLinks struct{}

func (siteLinks) Role(name string) string           { return PageName(name) }
func (siteLinks) File(name string) string           { return "metadata/" + url.PathEscape(diskName(name)) }
func (siteLinks) Target(path, sha256 string) string { return "" }

// diskName is the name a raw file is written under: role names may hold
// '/' and other characters file systems treat specially.
func diskName(name string) string { return url.PathEscape(name) }

// SiteSummary says what WriteSite wrote.
type SiteSummary struct {
	Source   string   `json:"source"`
	Dir      string   `json:"dir"`
	Roles    int      `json:"roles"`
	Verified int      `json:"verified"`
	Failed   []string `json:"failed"`
	Problems []string `json:"problems"`
}

// SiteOptions shape a static site.
type SiteOptions struct {
	Now time.Time
	// Describe says what a role is; nil for none.
	Describe func(role string) string
	// Warn is how long before its expiry a role is flagged (DefaultWarn when nil).
	Warn func(role string) time.Duration
	// Up links to a list of sites one directory up ("" for none).
	Up string
	// Progress receives a line per step.
	Progress func(string)
}

type sitePage struct {
	CSS, Home, Source, Up, Generated string
	Role                             RoleView
	Index                            IndexView
}

// WriteSite writes the repository as static pages into dir: index.html
// with the tree, one page per role, the raw files under metadata/, and
// style.css.
func WriteSite(ctx context.Context, r *Repo, dir string, so SiteOptions) (SiteSummary, error) {
	if so.Progress == nil {
		so.Progress = func(string) {}
	}
	t, err := Templates()
	if err != nil {
		return SiteSummary{}, err
	}
	o := Options{Links: siteLinks{}, Now: so.Now, Describe: so.Describe, Warn: so.Warn}
	o.defaults()
	if err := os.MkdirAll(filepath.Join(dir, "metadata"), 0o755); err != nil {
		return SiteSummary{}, err
	}
	if err := os.WriteFile(filepath.Join(dir, "style.css"), Stylesheet(), 0o644); err != nil {
		return SiteSummary{}, err
	}
	page := sitePage{CSS: "style.css", Home: "index.html", Source: r.Source, Up: so.Up,
		Generated: o.Now.UTC().Format("2006-01-02 15:04 UTC")}
	roles := r.Roles()
	for i, name := range roles {
		if err := ctx.Err(); err != nil {
			return SiteSummary{}, err
		}
		f := r.files[name]
		if err := os.WriteFile(filepath.Join(dir, "metadata", diskName(f.Name)), f.Raw, 0o644); err != nil {
			return SiteSummary{}, err
		}
		page.Role, _ = r.RoleView(name, o)
		if err := render(t, "tv-site-role", page, filepath.Join(dir, PageName(name))); err != nil {
			return SiteSummary{}, err
		}
		if (i+1)%200 == 0 {
			so.Progress(fmt.Sprintf("wrote %d of %d role pages", i+1, len(roles)))
		}
	}
	page.Role = RoleView{}
	page.Index = r.Index(o)
	if err := render(t, "tv-site-index", page, filepath.Join(dir, "index.html")); err != nil {
		return SiteSummary{}, err
	}
	sum := SiteSummary{Source: r.Source, Dir: dir, Roles: page.Index.Roles, Verified: page.Index.Verified,
		Failed: []string{}, Problems: page.Index.Problems}
	for _, l := range page.Index.Failed {
		sum.Failed = append(sum.Failed, l.Name)
	}
	if sum.Problems == nil {
		sum.Problems = []string{}
	}
	so.Progress(fmt.Sprintf("wrote %d role pages and index.html to %s", len(roles), dir))
	return sum, nil
}

// SiteLine is one site in a list of sites.
type SiteLine struct {
	Link     Link
	Roles    int
	Verified int
	Failed   int
	Problems int
}

// WriteSiteList writes dir/index.html listing several sites (the shards of
// a Hallmark repository) and dir/style.css.
func WriteSiteList(dir, source string, sites []SiteLine, now time.Time) error {
	t, err := Templates()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "style.css"), Stylesheet(), 0o644); err != nil {
		return err
	}
	data := struct {
		CSS, Home, Source, Up, Generated string
		Sites                            []SiteLine
	}{CSS: "style.css", Home: "index.html", Source: source, Generated: now.UTC().Format("2006-01-02 15:04 UTC"), Sites: sites}
	return render(t, "tv-site-list", data, filepath.Join(dir, "index.html"))
}

func render(t *template.Template, name string, data any, path string) error {
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, name, data); err != nil {
		return fmt.Errorf("failed to render %s: %w", path, err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, buf.Bytes(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
