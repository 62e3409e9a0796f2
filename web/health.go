package web

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"hallmark.dev/hallmark/layout"
	"hallmark.dev/hallmark/tufview"
)

// healthView summarises the repository's health: for each kind of role,
// the earliest expiry across shards, and the state of online renewal.
type healthView struct {
	Shards  int          `json:"shards"`
	Roles   []roleHealth `json:"roles"`
	Renewal renewalView  `json:"renewal"`
	// Witnesses is what the server knows of each witness it asks.
	Witnesses []witnessView `json:"witnesses"`
	// Behind lists the shards whose newest publication is not served yet.
	Behind  []string `json:"behind"`
	Status  string   `json:"status"`
	Class   string   `json:"class"`
	Checked string   `json:"checked"`
}

// roleHealth is the earliest expiry of one kind of role across shards.
type roleHealth struct {
	Kind     string         `json:"kind"`
	Earliest tufview.Expiry `json:"earliest"`
	Shard    string         `json:"shard"`
	Href     string         `json:"href"`
	// Missing counts shards without this role.
	Missing int `json:"missing,omitempty"`
}

// renewalView is the state of automatic renewal of online metadata.
type renewalView struct {
	Known     bool   `json:"known"`
	Renewals  int64  `json:"renewals"`
	Last      string `json:"last,omitempty"`
	LastAgo   string `json:"last_ago,omitempty"`
	LastError string `json:"last_error,omitempty"`
	ErrorAgo  string `json:"last_error_ago,omitempty"`
	Text      string `json:"text"`
	Class     string `json:"class"`
}

// witnessView is one witness's state as the server sees it.
type witnessView struct {
	Name     string `json:"name"`
	URL      string `json:"url"`
	Cosigned int64  `json:"cosigned"`
	LastOK   string `json:"last_ok,omitempty"`
	LastAgo  string `json:"last_ok_ago,omitempty"`
	Error    string `json:"last_error,omitempty"`
	Text     string `json:"text"`
	Class    string `json:"class"`
}

// healthKinds are the roles summarised, by kind, with the role's name in a shard.
var healthKinds = []struct {
	kind string
	name func(shard string) string
}{
	{"timestamp", func(string) string { return layout.RoleTimestamp }},
	{"snapshot", func(string) string { return layout.RoleSnapshot }},
	{"new projects bin", layout.NewRole},
	{"claimed bin", layout.ClaimedRole},
	{"targets", func(string) string { return layout.RoleTargets }},
	{"root", func(string) string { return layout.RoleRoot }},
}

// healthTTL is how long a health summary is reused: it reads every shard.
const healthTTL = 30 * time.Second

// healthCache keeps the last health summary.
type healthCache struct {
	mu   sync.Mutex
	at   time.Time
	view healthView
}

func (h *Handler) healthView(ctx context.Context) (healthView, error) {
	h.health.mu.Lock()
	defer h.health.mu.Unlock()
	now := h.cfg.Now()
	if !h.health.at.IsZero() && now.Sub(h.health.at) < healthTTL {
		v := h.health.view
		v.Renewal = h.renewal(now)
		h.witnessHealth(&v, now)
		return v, nil
	}
	v, err := h.buildHealth(ctx, now)
	if err != nil {
		return healthView{}, err
	}
	h.health.at, h.health.view = now, v
	return v, nil
}

func (h *Handler) buildHealth(ctx context.Context, now time.Time) (healthView, error) {
	v := healthView{Shards: h.cfg.Shards, Checked: timeText(now)}
	type earliest struct {
		t     time.Time
		shard string
		role  string
		found int
	}
	best := make([]earliest, len(healthKinds))
	shards := layout.ShardIDs(h.cfg.Shards)
	for _, shard := range shards {
		names := make([]string, len(healthKinds))
		for i, k := range healthKinds {
			names[i] = k.name(shard)
		}
		rfs, err := h.cfg.State.RoleExpiries(ctx, shard, names)
		if err != nil {
			return healthView{}, err
		}
		for _, rf := range rfs {
			for i, n := range names {
				if rf.Role != n {
					continue
				}
				best[i].found++
				if best[i].t.IsZero() || rf.Expires.Before(best[i].t) {
					best[i] = earliest{t: rf.Expires, shard: shard, role: n, found: best[i].found}
				}
			}
		}
	}
	v.Status, v.Class = "healthy", "ok"
	warn := tufview.HallmarkWarn(h.policy(ctx))
	for i, k := range healthKinds {
		rh := roleHealth{Kind: k.kind, Missing: len(shards) - best[i].found}
		if best[i].found > 0 {
			rh.Earliest = tufview.NewExpiry(best[i].t, now, warn(best[i].role))
			rh.Shard, rh.Href = best[i].shard, metaHref(best[i].shard, best[i].role)
		}
		switch {
		case rh.Missing > 0 || rh.Earliest.Class == "bad":
			v.Status, v.Class = "needs attention", "bad"
		case rh.Earliest.Class == "warn" && v.Class == "ok":
			v.Status, v.Class = "expiring soon", "warn"
		}
		v.Roles = append(v.Roles, rh)
	}
	v.Renewal = h.renewal(now)
	h.witnessHealth(&v, now)
	return v, nil
}

// witnessHealth adds the witnesses' state and the shards behind; a shard
// behind makes the repository need attention.
func (h *Handler) witnessHealth(v *healthView, now time.Time) {
	v.Witnesses, v.Behind = []witnessView{}, []string{}
	if h.cfg.Witnesses == nil {
		return
	}
	for _, w := range h.cfg.Witnesses.WitnessHealth() {
		wv := witnessView{Name: w.Name, URL: w.URL, Cosigned: w.Cosigned, LastOK: timeText(w.LastOK), LastAgo: ago(w.LastOK, now), Error: w.LastError}
		switch {
		case w.Failures > 0:
			wv.Text, wv.Class = fmt.Sprintf("not answering (%d failed requests)", w.Failures), "bad"
		case w.LastOK.IsZero():
			wv.Text, wv.Class = "not asked yet", "muted"
		default:
			wv.Text, wv.Class = "last co-signature "+wv.LastAgo, "ok"
		}
		v.Witnesses = append(v.Witnesses, wv)
	}
	behind := h.cfg.Witnesses.Behind()
	for _, s := range slices.Sorted(maps.Keys(behind)) {
		v.Behind = append(v.Behind, "shard "+s+" "+behind[s])
	}
	if len(v.Behind) > 0 {
		v.Status, v.Class = fmt.Sprintf("%d shard(s) behind", len(v.Behind)), "bad"
	}
}

// renewal describes the publisher's renewal counters.
func (h *Handler) renewal(now time.Time) renewalView {
	if h.cfg.Renewal == nil {
		return renewalView{Text: "unknown", Class: "muted"}
	}
	r := h.cfg.Renewal()
	v := renewalView{Known: true, Renewals: r.Renewals, Last: timeText(r.LastRenewal), LastAgo: ago(r.LastRenewal, now),
		LastError: r.LastError, ErrorAgo: ago(r.LastErrorTime, now)}
	switch {
	case r.LastError != "" && r.LastErrorTime.After(r.LastRenewal):
		v.Text, v.Class = "failing since "+v.ErrorAgo, "bad"
	case r.Renewals == 0:
		v.Text, v.Class = "working: nothing needed renewal since the server started", "ok"
	default:
		v.Text, v.Class = fmt.Sprintf("working: last renewal %s", v.LastAgo), "ok"
	}
	return v
}

// healthTmpl is the health card of the start page.
const healthTmpl = `{{define "health"}}<h2>Repository health <span class="badge {{.Class}}" id="health-status">{{.Status}}</span></h2>
<p class="muted small">{{.Shards}} shard(s). Earliest expiry of each kind of role across shards:</p>
<div class="table-wrap"><table class="health"><tbody>
{{range .Roles}}<tr><td>{{.Kind}}</td><td>{{if .Href}}<a href="{{.Href}}" title="{{.Earliest.Text}}">{{template "tv-expiry" .Earliest}}</a> <span class="muted small">shard {{.Shard}}</span>{{end}}{{if .Missing}} <span class="badge bad">missing in {{.Missing}} shard(s)</span>{{end}}</td></tr>
{{end}}</tbody></table></div>
<p>Online renewal: <span class="badge {{.Renewal.Class}}">{{.Renewal.Text}}</span>{{if .Renewal.LastError}}<br><span class="muted small">last error {{.Renewal.ErrorAgo}}: {{.Renewal.LastError}}</span>{{end}}</p>
{{if .Witnesses}}<p>Witnesses (they co-sign every timestamp):</p><ul class="plain" id="witnesses">{{range .Witnesses}}<li><strong>{{.Name}}</strong> <span class="muted small">{{.URL}}</span> <span class="badge {{.Class}}">{{.Text}}</span>{{if .Error}}<br><span class="muted small">last error: {{.Error}}</span>{{end}}</li>{{end}}</ul>{{end}}
{{if .Behind}}<p><span class="badge bad">not served yet</span> the newest publication of these shards waits:</p><ul class="plain" id="behind">{{range .Behind}}<li class="small">{{.}}</li>{{end}}</ul>{{end}}
{{end}}`
