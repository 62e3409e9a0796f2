package web

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	"hallmark.dev/hallmark/layout"
	"hallmark.dev/hallmark/store"
	"hallmark.dev/hallmark/tufmeta"
	"hallmark.dev/hallmark/tufview"
)

// projectPage shows a project: how to get it, its releases, who signs for
// it, what waits for signatures, and when its metadata expires.
type projectPage struct {
	Page
	Name    string `json:"name"`
	Display string `json:"display"`
	Shard   string `json:"shard"`
	Claimed bool   `json:"claimed"`
	// Status is a sentence about who can change the project.
	Status      string `json:"status"`
	StatusBadge string `json:"status_badge"`
	StatusClass string `json:"status_class"`
	Blocked     bool   `json:"blocked"`
	BlockReason string `json:"block_reason,omitempty"`
	Latest      string `json:"latest,omitempty"`
	LatestHref  string `json:"latest_href,omitempty"`
	// Meta is what the project says about itself, as its maintainers
	// signed it in the index.
	Meta       *layout.ProjectMeta `json:"meta,omitempty"`
	GetCommand string              `json:"get_command"`
	// Releases are newest first.
	Releases          []releaseView `json:"releases"`
	Removed           []removedFile `json:"removed_files"`
	Owners            []keyView     `json:"owners"`
	OwnersThreshold   int           `json:"owners_threshold"`
	OwnersCount       int           `json:"-"`
	Maintainers       []keyView     `json:"maintainers"`
	ReleasesThreshold int           `json:"releases_threshold"`
	MaintainersCount  int           `json:"-"`
	// DeclaredOwners is set while the owners role declares another owner set
	// than the bin names (an owner change waiting for the admins).
	DeclaredOwners []keyView      `json:"declared_owners,omitempty"`
	Pending        []pendingView  `json:"pending"`
	Roles          []roleLine     `json:"roles"`
	HistoryHref    string         `json:"history_href"`
	Problems       []string       `json:"problems,omitempty"`
	Created        string         `json:"created"`
	LatestExpires  tufview.Expiry `json:"-"`
}

// releaseView is a release with its files.
type releaseView struct {
	Version      string     `json:"version"`
	Href         string     `json:"href"`
	Latest       bool       `json:"latest"`
	Prerelease   bool       `json:"prerelease"`
	Yanked       bool       `json:"yanked"`
	YankedReason string     `json:"yanked_reason,omitempty"`
	Uploaded     string     `json:"uploaded,omitempty"`
	Files        []fileView `json:"files"`
	Size         string     `json:"size"`
}

// fileView is a release file.
type fileView struct {
	Name     string `json:"name"`
	Href     string `json:"href"`
	Download string `json:"download"`
	Length   int64  `json:"length"`
	Size     string `json:"size"`
	SHA256   string `json:"sha256"`
	Short    string `json:"-"`
}

// removedFile is a file that was published and removed: its name can never
// return with other content.
type removedFile struct {
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
}

// keyView is a signer's key.
type keyView struct {
	KeyID string `json:"keyid"`
	Short string `json:"-"`
	Label string `json:"label,omitempty"`
}

// roleLine is one of a project's roles with its expiry.
type roleLine struct {
	Role    string         `json:"role"`
	About   string         `json:"about"`
	Href    string         `json:"href"`
	Version int64          `json:"version"`
	Expires tufview.Expiry `json:"expires"`
}

const projectTmpl = `{{define "project"}}{{template "header" .Page}}
<p class="crumbs"><a href="/">Projects</a> › {{.Name}}</p>
<h1>{{.Display}} <span class="badge {{.StatusClass}}" id="project-status">{{.StatusBadge}}</span></h1>
{{if .Blocked}}<div class="banner" role="alert" id="blocked"><strong>This project is blocked by the repository's admins.</strong>{{if .BlockReason}} Reason: {{.BlockReason}}{{end}}</div>{{end}}
{{with .Meta}}<div id="about">{{if .Description}}<p class="lead" id="description">{{.Description}}</p>{{end}}
<p class="small">{{if .Homepage}}<a href="{{.Homepage}}" rel="nofollow noopener" id="homepage">Homepage</a> {{end}}{{if .Repository}}<a href="{{.Repository}}" rel="nofollow noopener" id="repository">Repository</a> {{end}}{{if .License}}Licence: <span id="license">{{.License}}</span>{{end}}
<span class="muted">(as the maintainers signed it)</span></p></div>{{end}}
{{if .Problems}}<div class="alert bad" role="alert"><ul>{{range .Problems}}<li>{{.}}</li>{{end}}</ul></div>{{end}}
<p class="muted">{{.Status}}</p>
{{if .Blocked}}<div class="card get" id="not-served"><p>Its files are not served, and downloaders refuse them. The releases below are listed for the record only.</p></div>
{{else if .Latest}}
<div class="card get"><p>Latest release: <a href="{{.LatestHref}}" id="latest"><strong>{{.Latest}}</strong></a>. Get it, verified with TUF:</p>
<p><code class="copy" id="get-command">{{.GetCommand}}</code></p></div>
{{else}}<div class="card get"><p>No release qualifies as latest yet (none, or only pre-releases and yanked ones). Get an exact version with <code class="copy">hallmark get {{.Name}}@VERSION</code>.</p></div>{{end}}
<div class="cols">
<section>
<h2 id="releases">Releases</h2>
{{range .Releases}}
<div class="card release{{if .Yanked}} yanked{{end}}">
<h3><a href="{{.Href}}">{{.Version}}</a>{{if .Latest}} <span class="badge ok">latest</span>{{end}}{{if .Prerelease}} <span class="badge info">pre-release</span>{{end}}{{if .Yanked}} <span class="badge warn">yanked</span>{{end}} <span class="muted small">{{.Size}}{{if .Uploaded}}, uploaded {{.Uploaded}}{{end}}</span></h3>
{{if .Yanked}}<p class="small">Yanked: {{if .YankedReason}}{{.YankedReason}}{{else}}no reason given{{end}}. Still installable by exact version; never chosen as latest.</p>{{end}}
<div class="table-wrap"><table class="files"><tbody>
{{range .Files}}<tr><td><a href="{{.Href}}">{{.Name}}</a></td><td class="num">{{.Size}}</td><td><code class="hash small" title="sha256 {{.SHA256}}">{{.Short}}…</code></td><td>{{if not $.Blocked}}<a href="{{.Download}}" download="{{.Name}}">download</a>{{end}}</td></tr>
{{end}}</tbody></table></div>
</div>
{{else}}<p class="muted">No releases yet.</p>{{end}}
{{with .Meta}}{{if .Readme}}<h2 id="readme">README</h2><pre class="readme">{{.Readme}}</pre>{{end}}{{end}}
{{if .Removed}}<h3>Removed files</h3><p class="muted small">These names can never be used again with other content.</p><ul class="small">{{range .Removed}}<li><code>{{.Path}}</code></li>{{end}}</ul>{{end}}
</section>
<section>
<h2 id="owners">Owners</h2>
{{if .Blocked}}<p class="small muted">As the project's last signed owners role names them.</p>{{else}}<p class="small muted">{{.OwnersThreshold}} of {{.OwnersCount}} must sign changes of owners and maintainers.</p>{{end}}
<ul class="plain keys">{{range .Owners}}<li>{{if .Label}}{{.Label}}{{else}}<span class="muted">no label</span>{{end}}<br><code class="key small" title="{{.KeyID}}">{{.Short}}</code></li>{{end}}</ul>
{{if .DeclaredOwners}}<p class="alert info small">An owner change waits for the admins: the owners role names {{range .DeclaredOwners}}<code title="{{.KeyID}}">{{.Short}}</code> {{.Label}} {{end}}</p>{{end}}
<h2 id="maintainers">Maintainers</h2>
<p class="small muted">{{.ReleasesThreshold}} of {{.MaintainersCount}} must sign each release.</p>
<ul class="plain keys">{{range .Maintainers}}<li>{{if .Label}}{{.Label}}{{else}}<span class="muted">no label</span>{{end}}<br><code class="key small" title="{{.KeyID}}">{{.Short}}</code></li>{{end}}</ul>
<h2 id="pending">Pending changes</h2>
{{range .Pending}}{{template "pending" .}}{{else}}<p class="muted">Nothing waits for signatures.</p>{{end}}
<h2 id="metadata">Metadata</h2>
<ul class="plain">{{range .Roles}}<li><a href="{{.Href}}">{{.Role}}</a> <span class="muted small">v{{.Version}}</span> {{template "tv-expiry" .Expires}}<br><span class="muted small">{{.About}}</span></li>{{end}}</ul>
<p><a href="{{.HistoryHref}}">History of changes</a></p>
<p class="muted small">Shard {{.Shard}}. Registered {{.Created}}.</p>
</section>
</div>
{{template "footer" .Page}}{{end}}`

func (h *Handler) project(r *http.Request) (view, error) {
	name, err := projectName(r, "")
	if err != nil {
		return view{}, err
	}
	ctx := r.Context()
	s, err := h.loadProject(ctx, name)
	if err != nil {
		return view{}, err
	}
	now := h.cfg.Now()
	p := projectPage{Page: h.base(s.Display, r), Name: name, Display: s.Display, Shard: s.Shard,
		Claimed: s.Status == store.StatusClaimed, Blocked: s.Blocked, BlockReason: s.BlockReason,
		GetCommand: "hallmark get " + name, HistoryHref: historyHref(name), Problems: s.Problems,
		Releases: []releaseView{}, Removed: []removedFile{}, Pending: []pendingView{}, Created: timeText(s.Created)}
	p.Status, p.StatusBadge, p.StatusClass = describeStatus(s)
	labels := tufmeta.Labels(s.Owners)
	p.Releases = releaseViews(name, s.Index)
	if s.Index != nil {
		p.Meta = s.Index.Meta
	}
	for _, rv := range p.Releases {
		if rv.Latest {
			p.Latest, p.LatestHref = rv.Version, rv.Href
		}
	}
	files, err := h.cfg.State.Files(ctx, name)
	if err != nil {
		return view{}, err
	}
	for _, f := range files {
		if f.Removed {
			p.Removed = append(p.Removed, removedFile{Path: f.Path, SHA256: f.SHA256})
		}
	}
	owners := s.BinDel
	if s.Blocked {
		// A block replaces the bin's delegation with one no key satisfies:
		// the owners are the ones the project's own owners role names.
		if d, ok, err := tufmeta.DeclaredOwners(s.Owners); err == nil && ok {
			owners = d
		}
	}
	p.Owners, p.OwnersThreshold = keyViews(owners, labels), owners.Threshold
	if d, _, err := tufmeta.TargetsDelegation(s.Owners, layout.ReleasesRole(name)); err == nil {
		p.Maintainers, p.ReleasesThreshold = keyViews(d, labels), d.Threshold
	}
	p.OwnersCount, p.MaintainersCount = len(p.Owners), len(p.Maintainers)
	if d, ok, err := tufmeta.DeclaredOwners(s.Owners); err == nil && ok && s.BinFound && !s.Blocked && !tufmeta.SameKeys(d, s.BinDel) {
		p.DeclaredOwners = keyViews(d, labels)
	}
	if p.Pending, err = h.pendingViews(ctx, s, now); err != nil {
		return view{}, err
	}
	warn := tufview.HallmarkWarn(h.policy(r.Context()))
	for _, rf := range []store.RoleFile{s.OwnersRF, s.ReleasesRF} {
		p.Roles = append(p.Roles, roleLine{Role: rf.Role, About: roleAbout(rf.Role), Href: metaHref(s.Shard, rf.Role),
			Version: rf.Version, Expires: tufview.NewExpiry(rf.Expires, now, warn(rf.Role))})
	}
	return view{template: "project", data: p}, nil
}

// describeStatus says who can change the project.
func describeStatus(s *projectState) (text, badge, class string) {
	switch {
	case s.Blocked:
		return "The repository's admins blocked this project: its files are not served.", "blocked", "bad"
	case s.Status == store.StatusClaimed:
		return "Claimed: only its owners and the repository's offline keys can change who signs for it.", "claimed", "ok"
	}
	return "Not claimed yet: until the repository's admins claim it, the server's online key could take it over.", "not yet claimed", "warn"
}

func roleAbout(role string) string {
	switch kind, _ := layout.ParseRole(role); kind {
	case layout.KindOwners:
		return "owners role: names the maintainers"
	case layout.KindReleases:
		return "releases role: lists the index and the files"
	}
	return ""
}

// releaseViews lists an index's releases, newest first.
func releaseViews(project string, ix *layout.Index) []releaseView {
	out := []releaseView{}
	if ix == nil {
		return out
	}
	latest := ""
	if l, err := ix.Latest(); err == nil {
		latest = l.Version
	}
	for _, v := range ix.Versions() {
		rel, _ := ix.Release(v)
		out = append(out, releaseViewOf(project, rel, latest))
	}
	return out
}

func releaseViewOf(project string, rel *layout.Release, latest string) releaseView {
	pv, _ := layout.ParseVersion(rel.Version)
	rv := releaseView{Version: rel.Version, Href: releaseHref(project, rel.Version), Latest: rel.Version == latest,
		Prerelease: pv.IsPrerelease(), Yanked: rel.Yanked, YankedReason: rel.YankedReason, Uploaded: rel.Uploaded, Files: []fileView{}}
	var total int64
	for _, f := range rel.Files {
		total += f.Length
		rv.Files = append(rv.Files, fileView{Name: f.Name, Href: fileHref(project, rel.Version, f.Name),
			Download: downloadHref(layout.FilePath(project, rel.Version, f.Name), f.SHA256),
			Length:   f.Length, Size: tufview.Size(f.Length), SHA256: f.SHA256, Short: f.SHA256[:min(12, len(f.SHA256))]})
	}
	rv.Size = fmt.Sprintf("%d file(s), %s", len(rel.Files), tufview.Size(total))
	return rv
}

func keyViews(d tufmeta.Delegation, labels map[string]string) []keyView {
	out := []keyView{}
	for _, id := range d.KeyIDs {
		out = append(out, keyView{KeyID: id, Short: short(id), Label: labels[id]})
	}
	slices.SortStableFunc(out, func(a, b keyView) int { return strings.Compare(a.Label, b.Label) })
	return out
}
