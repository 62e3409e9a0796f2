package web

import (
	"net/http"
	"strings"

	"hallmark.dev/hallmark/tufmeta"
)

// historyLimit bounds the entries of a history page.
const historyLimit = 500

// historyPage is a project's audit log, newest first.
type historyPage struct {
	Page
	Project     string         `json:"project"`
	Display     string         `json:"display"`
	ProjectHref string         `json:"project_href"`
	Entries     []historyEntry `json:"entries"`
	Truncated   bool           `json:"truncated"`
}

// historyEntry is one published change.
type historyEntry struct {
	Time     string    `json:"time"`
	Ago      string    `json:"ago"`
	Action   string    `json:"action"`
	Lines    []string  `json:"changes"`
	SignedBy []keyView `json:"signed_by"`
}

const historyTmpl = `{{define "history"}}{{template "header" .Page}}
<p class="crumbs"><a href="/">Projects</a> › <a href="{{.ProjectHref}}">{{.Display}}</a> › history</p>
<h1>History of {{.Display}}</h1>
<p class="muted">Every change the server published, newest first, with the keys whose signatures it carried.</p>
<div class="table-wrap"><table class="history"><thead><tr><th>When</th><th>Change</th><th>Signed by</th></tr></thead><tbody>
{{range .Entries}}<tr><td title="{{.Time}}">{{.Time}}<br><span class="muted small">{{.Ago}}</span></td>
<td><span class="badge">{{.Action}}</span><ul>{{range .Lines}}<li>{{.}}</li>{{end}}</ul></td>
<td>{{range .SignedBy}}<code title="{{.KeyID}}">{{.Short}}</code> {{.Label}}<br>{{end}}</td></tr>
{{else}}<tr><td colspan="3" class="muted">No history recorded.</td></tr>{{end}}
</tbody></table></div>
{{if .Truncated}}<p class="muted">Only the newest 500 changes are shown.</p>{{end}}
{{template "footer" .Page}}{{end}}`

func (h *Handler) history(r *http.Request) (view, error) {
	name, err := projectName(r, "/history")
	if err != nil {
		return view{}, err
	}
	ctx := r.Context()
	s, err := h.loadProject(ctx, name)
	if err != nil {
		return view{}, err
	}
	entries, err := h.cfg.State.Audit(ctx, name, historyLimit+1)
	if err != nil {
		return view{}, err
	}
	labels := tufmeta.Labels(s.Owners)
	now := h.cfg.Now()
	p := historyPage{Page: h.base("History of "+s.Display, r), Project: name, Display: s.Display,
		ProjectHref: projectHref(name), Entries: []historyEntry{}, Truncated: len(entries) > historyLimit}
	for _, e := range entries[:min(len(entries), historyLimit)] {
		he := historyEntry{Time: timeText(e.Time), Ago: ago(e.Time, now), Action: e.Action, SignedBy: []keyView{}}
		for _, l := range strings.Split(e.Detail, "; ") {
			if l != "" {
				he.Lines = append(he.Lines, l)
			}
		}
		for _, id := range e.KeyIDs {
			he.SignedBy = append(he.SignedBy, keyView{KeyID: id, Short: short(id), Label: labels[id]})
		}
		p.Entries = append(p.Entries, he)
	}
	return view{template: "history", data: p}, nil
}
