package web

import (
	"net/http"
	"strings"

	"hallmark.dev/hallmark/layout"
)

// homePage is the start page: search, recent releases, repository health.
type homePage struct {
	Page
	// Repo is the repository URL, for `hallmark trust`.
	Repo      string          `json:"repository"`
	Searched  bool            `json:"searched"`
	Normal    string          `json:"normalized_query,omitempty"`
	Results   []projectLine   `json:"results"`
	Recent    []recentRelease `json:"recent_releases"`
	Health    healthView      `json:"health"`
	MoreLimit int             `json:"-"`
}

// projectLine is a project in a list.
type projectLine struct {
	Name    string `json:"name"`
	Display string `json:"display"`
	Href    string `json:"href"`
	Status  string `json:"status"`
	Class   string `json:"class"`
	Exact   bool   `json:"exact"`
}

// recentRelease is a release in the "recently published" list.
type recentRelease struct {
	Project     string `json:"project"`
	Version     string `json:"version"`
	Href        string `json:"href"`
	ProjectHref string `json:"project_href"`
	Time        string `json:"time"`
	Ago         string `json:"ago"`
}

// searchLimit bounds the results of one search.
const searchLimit = 50

const homeTmpl = `{{define "home"}}{{template "header" .Page}}
<section class="hero">
<h1>Find a project</h1>
<p class="lead">Every file here is signed by its project's maintainers on their own machines and verified by downloaders with TUF: the server cannot change what you download.</p>
<form class="search big" action="/" method="get" role="search"><input type="search" name="q" value="{{.Page.Query}}" placeholder="Project name, like Foo_Bar or foo-bar" aria-label="Project name" maxlength="200" autofocus><button type="submit">Search</button></form>
</section>
{{if .Searched}}
<h2 id="results">Projects matching “{{.Page.Query}}”</h2>
{{if .Results}}<ul class="plain results">{{range .Results}}<li><a href="{{.Href}}"><strong>{{.Display}}</strong></a> <span class="muted">{{.Name}}</span> <span class="badge {{.Class}}">{{.Status}}</span>{{if .Exact}} <span class="badge info">exact match</span>{{end}}</li>{{end}}</ul>
{{else}}<p>No project name contains <code>{{.Normal}}</code>.</p>{{end}}
{{end}}
<div class="cols">
<section>
<h2>Recently published</h2>
{{if .Recent}}<ul class="plain">{{range .Recent}}<li><a href="{{.Href}}"><strong>{{.Project}} {{.Version}}</strong></a> <span class="muted small" title="{{.Time}}">{{.Ago}}</span></li>{{end}}</ul>
{{else}}<p class="muted">Nothing has been published yet.</p>{{end}}
<h2>Use it</h2>
<p>Pin this repository's root keys once, after checking the fingerprint with its operators, then get any project:</p>
<pre><code class="copy">hallmark trust {{.Repo}}</code>
<code class="copy">hallmark get PROJECT</code></pre>
</section>
<section>
{{template "health" .Health}}
</section>
</div>
{{template "footer" .Page}}{{end}}`

func (h *Handler) home(r *http.Request) (view, error) {
	ctx := r.Context()
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	if len(q) > layout.MaxNameLength {
		q = q[:layout.MaxNameLength]
	}
	p := homePage{Page: h.base("Hallmark repository", r), Repo: repoURL(r), Results: []projectLine{}, Recent: []recentRelease{}}
	p.Query = q
	if q != "" {
		p.Searched = true
		p.Normal = layout.Normalize(q)
		found, err := h.cfg.State.SearchProjects(ctx, p.Normal, searchLimit)
		if err != nil {
			return view{}, err
		}
		for _, pr := range found {
			status, class := statusOf(pr.Status, pr.Blocked)
			p.Results = append(p.Results, projectLine{Name: pr.Name, Display: pr.Display, Href: projectHref(pr.Name),
				Status: status, Class: class, Exact: pr.Name == p.Normal})
		}
		p.Title = "Search: " + q
	}
	recent, err := h.recentReleases(r)
	if err != nil {
		return view{}, err
	}
	p.Recent = recent
	if p.Health, err = h.healthView(ctx); err != nil {
		return view{}, err
	}
	return view{template: "home", data: p}, nil
}

// recentReleases reads the newest audit entries and keeps the releases
// they add ("add release 1.2.0: ..." lines of package explain).
func (h *Handler) recentReleases(r *http.Request) ([]recentRelease, error) {
	entries, err := h.cfg.State.RecentAudit(r.Context(), 200)
	if err != nil {
		return nil, err
	}
	now := h.cfg.Now()
	out := []recentRelease{}
	for _, e := range entries {
		for _, line := range strings.Split(e.Detail, "; ") {
			rest, ok := strings.CutPrefix(line, "add release ")
			if !ok {
				continue
			}
			version, _, _ := strings.Cut(rest, ":")
			if _, err := layout.ParseVersion(version); err != nil || !layout.IsNormalizedProject(e.Project) {
				continue
			}
			out = append(out, recentRelease{Project: e.Project, Version: version, Href: releaseHref(e.Project, version),
				ProjectHref: projectHref(e.Project), Time: timeText(e.Time), Ago: ago(e.Time, now)})
		}
		if len(out) >= 12 {
			break
		}
	}
	return out[:min(len(out), 12)], nil
}

// statusOf describes a project's status in a word and a badge class.
func statusOf(status string, blocked bool) (string, string) {
	switch {
	case blocked:
		return "blocked", "bad"
	case status == "claimed":
		return "claimed", "ok"
	}
	return "not yet claimed", "warn"
}

// repoURL is the repository's URL as the request reached it.
func repoURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}
