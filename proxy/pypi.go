package proxy

import (
	"encoding/json"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"hallmark.dev/hallmark/client"
	"hallmark.dev/hallmark/layout"
	"hallmark.dev/hallmark/tufmeta"
)

// PEP 691 media types; the HTML form is PEP 503's.
const (
	pypiJSON = "application/vnd.pypi.simple.v1+json"
	pypiHTML = "application/vnd.pypi.simple.v1+html"
)

// pypiFile is one file of a project's simple page.
type pypiFile struct {
	Filename string            `json:"filename"`
	URL      string            `json:"url"`
	Hashes   map[string]string `json:"hashes"`
	// Yanked is false, or the yank reason (true when none was given).
	Yanked any   `json:"yanked,omitempty"`
	Size   int64 `json:"size"`

	// IsYanked and Reason feed the HTML form's data-yanked.
	IsYanked bool   `json:"-"`
	Reason   string `json:"-"`
}

// pypiFiles lists the Python distributions of every release of a verified
// project, newest release first.
func pypiFiles(base string, p *client.Project) []pypiFile {
	var out []pypiFile
	for _, rel := range p.Index.Releases {
		for _, f := range rel.Files {
			if kind, _ := layout.DistOf(p.Name, f.Name); kind != layout.Wheel && kind != layout.Sdist {
				continue
			}
			pf := pypiFile{Filename: f.Name, URL: fileURL(base, p.Name, rel.Version, f.Name),
				Hashes: map[string]string{"sha256": f.SHA256}, Size: f.Length, IsYanked: rel.Yanked, Reason: rel.YankedReason}
			if rel.Yanked {
				pf.Yanked = true
				if rel.YankedReason != "" {
					pf.Yanked = rel.YankedReason
				}
			}
			out = append(out, pf)
		}
	}
	return out
}

// wantsJSON reports whether a simple-API request asks for PEP 691 JSON:
// ?format= first, else the Accept header's preferred simple type.
func wantsJSON(r *http.Request) bool {
	if f := r.URL.Query().Get("format"); f != "" {
		return strings.Contains(f, "json")
	}
	best, bestQ := "", -1.0
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		typ, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		q := 1.0
		if v, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				continue
			}
			q = f
		}
		if q > bestQ {
			best, bestQ = strings.TrimSpace(typ), q
		}
	}
	return best == pypiJSON || best == "application/vnd.pypi.simple.latest+json"
}

var projectListHTML = template.Must(template.New("list").Parse(`<!DOCTYPE html>
<html><head><meta name="pypi:repository-version" content="1.0"><title>Simple index (verified by Hallmark)</title></head>
<body>
{{range .}}<a href="{{.}}/">{{.}}</a><br>
{{end}}</body></html>
`))

var projectHTML = template.Must(template.New("project").Parse(`<!DOCTYPE html>
<html><head><meta name="pypi:repository-version" content="1.0"><title>Links for {{.Name}} (verified by Hallmark)</title></head>
<body><h1>Links for {{.Name}}</h1>
{{range .Files}}<a href="{{.URL}}#sha256={{index .Hashes "sha256"}}"{{if .IsYanked}} data-yanked="{{.Reason}}"{{end}}>{{.Filename}}</a><br>
{{end}}</body></html>
`))

// pypiProjects serves the list of every project.
func (s *Server) pypiProjects(w http.ResponseWriter, r *http.Request) {
	names, err := s.projects(r.Context())
	if err != nil {
		s.refuse(w, r, err)
		return
	}
	if wantsJSON(r) {
		type project struct {
			Name string `json:"name"`
		}
		list := make([]project, len(names))
		for i, n := range names {
			list[i] = project{n}
		}
		writeJSON(w, pypiJSON, map[string]any{"meta": map[string]string{"api-version": "1.0"}, "projects": list})
		return
	}
	w.Header().Set("Content-Type", pypiHTML)
	if err := projectListHTML.Execute(w, names); err != nil {
		s.log.Warn("writing the project list", "err", err)
	}
}

// pypiProject serves one project's simple page.
func (s *Server) pypiProject(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("project")
	normal, err := layout.ParseProjectName(name)
	if err != nil {
		s.refuse(w, r, &badRequestError{err.Error()})
		return
	}
	if normal != name {
		http.Redirect(w, r, "/pypi/simple/"+normal+"/", http.StatusMovedPermanently)
		return
	}
	p, err := s.project(r.Context(), normal)
	if err != nil {
		s.refuse(w, r, err)
		return
	}
	files := pypiFiles(baseURL(r), p)
	if wantsJSON(r) {
		if files == nil {
			files = []pypiFile{}
		}
		writeJSON(w, pypiJSON, map[string]any{"meta": map[string]string{"api-version": "1.0"}, "name": p.Name, "files": files})
		return
	}
	w.Header().Set("Content-Type", pypiHTML)
	if err := projectHTML.Execute(w, map[string]any{"Name": p.Name, "Files": files}); err != nil {
		s.log.Warn("writing a project page", "project", p.Name, "err", err)
	}
}

// pypiRedirect sends "/pypi/simple/NAME" to "/pypi/simple/NAME/", as PyPI does.
func (s *Server) pypiRedirect(w http.ResponseWriter, r *http.Request) {
	http.Redirect(w, r, "/pypi/simple/"+url.PathEscape(r.PathValue("project"))+"/", http.StatusMovedPermanently)
}

// projectsOf returns the projects a shard's verified bins delegate, blocked
// ones left out.
func projectsOf(st *client.ShardState) []string {
	var out []string
	for _, bin := range []*tufmeta.Targets{st.Claimed, st.New} {
		if bin.Signed.Delegations == nil {
			continue
		}
		for _, role := range bin.Signed.Delegations.Roles {
			kind, project := layout.ParseRole(role.Name)
			if kind != layout.KindOwners {
				continue
			}
			if blocked, _, _ := tufmeta.Blocked(bin, project); !blocked {
				out = append(out, project)
			}
		}
	}
	return out
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func writeJSON(w http.ResponseWriter, ctype string, v any) {
	w.Header().Set("Content-Type", ctype)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}

// baseURL is the proxy's own URL as the client reached it.
func baseURL(r *http.Request) string { return "http://" + r.Host }

func pathEscape(s string) string { return url.PathEscape(s) }
