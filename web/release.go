package web

import (
	"fmt"
	"net/http"

	"hallmark.dev/hallmark/layout"
)

// releasePage shows one release: its files and how to get it.
type releasePage struct {
	Page
	Project     string      `json:"project"`
	Display     string      `json:"display"`
	ProjectHref string      `json:"project_href"`
	Release     releaseView `json:"release"`
	GetCommand  string      `json:"get_command"`
	Blocked     bool        `json:"blocked"`
}

const releaseTmpl = `{{define "release"}}{{template "header" .Page}}
<p class="crumbs"><a href="/">Projects</a> › <a href="{{.ProjectHref}}">{{.Display}}</a> › {{.Release.Version}}</p>
{{with .Release}}
<h1>{{$.Display}} {{.Version}}{{if .Latest}} <span class="badge ok">latest</span>{{end}}{{if .Prerelease}} <span class="badge info">pre-release</span>{{end}}{{if .Yanked}} <span class="badge warn">yanked</span>{{end}}</h1>
{{if .Yanked}}<div class="alert warn" role="alert"><strong>This release is yanked:</strong> {{if .YankedReason}}{{.YankedReason}}{{else}}no reason given{{end}}. It stays installable by exact version and is never chosen as latest.</div>{{end}}
{{if $.Blocked}}<div class="banner" role="alert">This project is blocked by the repository's admins.</div>{{end}}
<div class="card get"><p>Get it, verified with TUF against the root keys you pinned:</p><p><code class="copy" id="get-command">{{$.GetCommand}}</code></p></div>
<h2>Files <span class="muted small">{{.Size}}</span></h2>
<div class="table-wrap"><table class="files"><thead><tr><th>File</th><th>Size</th><th>SHA-256</th><th></th></tr></thead><tbody>
{{range .Files}}<tr><td><a href="{{.Href}}">{{.Name}}</a></td><td class="num" title="{{.Length}} bytes">{{.Size}}</td><td><code class="hash small">{{.SHA256}}</code></td><td><a href="{{.Download}}" download="{{.Name}}">download</a></td></tr>
{{end}}</tbody></table></div>
{{end}}
{{template "footer" .Page}}{{end}}`

func (h *Handler) release(r *http.Request) (view, error) {
	version := r.PathValue("version")
	name, err := projectName(r, "/"+version)
	if err != nil {
		return view{}, err
	}
	if _, err := layout.ParseVersion(version); err != nil {
		return view{}, notFound(err.Error())
	}
	s, err := h.loadProject(r.Context(), name)
	if err != nil {
		return view{}, err
	}
	rel, latest, err := findRelease(s, version)
	if err != nil {
		return view{}, err
	}
	p := releasePage{Page: h.base(s.Display+" "+version, r), Project: name, Display: s.Display, ProjectHref: projectHref(name),
		Release: releaseViewOf(name, rel, latest), GetCommand: "hallmark get " + name + "@" + version, Blocked: s.Blocked}
	return view{template: "release", data: p}, nil
}

// findRelease finds a release in the project's index, with the version
// that is latest.
func findRelease(s *projectState, version string) (*layout.Release, string, error) {
	if s.Index == nil {
		return nil, "", fmt.Errorf("project %s has no readable index", s.Name)
	}
	rel, ok := s.Index.Release(version)
	if !ok {
		return nil, "", notFound(fmt.Sprintf("Project %s has no version %s.", s.Name, version))
	}
	latest := ""
	if l, err := s.Index.Latest(); err == nil {
		latest = l.Version
	}
	return rel, latest, nil
}
