package web

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"hallmark.dev/hallmark/api"
	"hallmark.dev/hallmark/explain"
	"hallmark.dev/hallmark/layout"
	"hallmark.dev/hallmark/store"
	"hallmark.dev/hallmark/tufmeta"
)

// pendingView is a change waiting for signatures: what it does in plain
// words, and who has signed which role so far.
type pendingView struct {
	ID      string        `json:"id"`
	Project string        `json:"project"`
	Created string        `json:"created"`
	Expires string        `json:"expires"`
	Lines   []string      `json:"changes"`
	Roles   []pendingRole `json:"roles"`
	Problem string        `json:"problem,omitempty"`
	// Superseded is set when a change published after it changed a role
	// it changes: it can never apply (its author can make it again).
	Superseded bool `json:"superseded,omitempty"`
}

// pendingRole is one proposed role's signatures.
type pendingRole struct {
	Role      string    `json:"role"`
	Valid     int       `json:"valid"`
	Threshold int       `json:"threshold"`
	Summary   string    `json:"summary"`
	Signers   []keyView `json:"signed_by"`
}

const pendingTmpl = `{{define "pending"}}<div class="card pending" id="pending-{{.ID}}">
<p><strong>Change {{.ID}}</strong>{{if .Superseded}} <span class="badge bad" id="superseded-{{.ID}}">superseded</span>{{end}} <span class="muted small">proposed {{.Created}}, {{if .Superseded}}kept until {{.Expires}}{{else}}dropped {{.Expires}} unless signed{{end}}</span></p>
{{if .Superseded}}<p class="small">A change published after it changed the same metadata, so it can never apply. Its author can sign it again on top of the new state with <code class="copy">hallmark pending resign {{.Project}} {{.ID}}</code>.</p>{{end}}
{{if .Problem}}<p class="alert bad small">{{.Problem}}</p>{{end}}
<ul>{{range .Lines}}<li>{{.}}</li>{{end}}</ul>
{{range .Roles}}<p class="small"><span class="badge warn">{{.Summary}}</span> {{.Role}}{{range .Signers}}<br><code title="{{.KeyID}}">{{.Short}}</code> {{.Label}}{{end}}</p>{{end}}
{{if not .Superseded}}<p class="small muted">Maintainers approve it with <code class="copy">hallmark approve {{.Project}} {{.ID}}</code> after reading what their tool shows.</p>{{end}}
</div>{{end}}`

// pendingViews describes the project's pending changes. The server's copy
// is unverified, like everything on the page; the signatures are checked
// here only to say who signed.
func (h *Handler) pendingViews(ctx context.Context, s *projectState, now time.Time) ([]pendingView, error) {
	list, err := h.cfg.State.ListPending(ctx, s.Name)
	if err != nil {
		return nil, err
	}
	out := []pendingView{}
	for _, p := range list {
		if !p.Expires.After(now) {
			continue
		}
		out = append(out, h.pendingView(ctx, s, p))
	}
	return out, nil
}

func (h *Handler) pendingView(ctx context.Context, s *projectState, p store.PendingChange) pendingView {
	v := pendingView{ID: p.ID, Project: s.Name, Created: timeText(p.Created), Expires: timeText(p.Expires), Lines: []string{}, Roles: []pendingRole{}}
	var req api.ChangeRequest
	if err := json.Unmarshal(p.Change, &req); err != nil {
		v.Problem = "the stored change is malformed"
		return v
	}
	labels := tufmeta.Labels(s.Owners)
	old := explain.State{Project: s.Name, Owners: &s.BinDel, OwnersRole: s.Owners, ReleasesRole: s.Releases, Index: s.Index}
	next := old
	if len(req.OwnersRole) > 0 {
		md, err := tufmeta.Decode[metadata.TargetsType](req.OwnersRole)
		if err != nil {
			v.Problem = "the proposed owners role is malformed: " + err.Error()
			return v
		}
		next.OwnersRole = md
		v.Superseded = v.Superseded || md.Signed.Version <= s.OwnersRF.Version
		for k, l := range tufmeta.Labels(md) {
			labels[k] = l
		}
		dels := []tufmeta.Delegation{s.BinDel}
		if d, ok, err := tufmeta.DeclaredOwners(md); err == nil && ok {
			dels = append(dels, d)
			next.Owners = &d
		}
		v.Roles = append(v.Roles, signatures("owners role", md, dels, labels))
	}
	if len(req.ReleasesRole) > 0 {
		md, err := tufmeta.Decode[metadata.TargetsType](req.ReleasesRole)
		if err != nil {
			v.Problem = "the proposed releases role is malformed: " + err.Error()
			return v
		}
		next.ReleasesRole = md
		v.Superseded = v.Superseded || md.Signed.Version <= s.ReleasesRF.Version
		if d, _, err := tufmeta.TargetsDelegation(next.OwnersRole, layout.ReleasesRole(s.Name)); err == nil {
			v.Roles = append(v.Roles, signatures("releases role", md, []tufmeta.Delegation{d}, labels))
		}
		ix, err := h.pendingIndex(ctx, s, p.ID, md)
		if err != nil {
			v.Problem = err.Error()
		}
		next.Index = ix
	}
	if v.Superseded {
		return v // its effect against the current state would mislead
	}
	v.Lines = explain.Change(old, next)
	return v
}

// signatures counts a proposed role's valid signatures against the keys
// that may sign it (for an owner change, the current or the declared owners).
func signatures(role string, md *tufmeta.Targets, dels []tufmeta.Delegation, labels map[string]string) pendingRole {
	pr := pendingRole{Role: role, Signers: []keyView{}}
	seen := map[string]bool{}
	for i, d := range dels {
		c, err := tufmeta.Count(md, d)
		if err != nil {
			continue
		}
		if i == 0 {
			pr.Valid, pr.Threshold = len(c.Valid), d.Threshold
		}
		for _, id := range c.Valid {
			if !seen[id] {
				seen[id] = true
				pr.Signers = append(pr.Signers, keyView{KeyID: id, Short: short(id), Label: labels[id]})
			}
		}
	}
	pr.Summary = fmt.Sprintf("%d of %d signatures", pr.Valid, pr.Threshold)
	return pr
}

// pendingIndex is the index a proposed releases role lists: the current
// one, or the staged file of the pending change.
func (h *Handler) pendingIndex(ctx context.Context, s *projectState, id string, md *tufmeta.Targets) (*layout.Index, error) {
	tf := md.Signed.Targets[layout.IndexPath(s.Name)]
	if tf == nil {
		return nil, fmt.Errorf("the proposed releases role lists no project index")
	}
	sum := hex.EncodeToString(tf.Hashes["sha256"])
	if cur := s.Releases.Signed.Targets[layout.IndexPath(s.Name)]; cur != nil && hex.EncodeToString(cur.Hashes["sha256"]) == sum {
		return s.Index, nil
	}
	data, err := h.blob(ctx, store.PendingBlobPath(id, sum), layout.MaxIndexSize)
	if err != nil {
		return nil, fmt.Errorf("the proposed project index is not stored: %w", err)
	}
	if err := tf.VerifyLengthHashes(data); err != nil {
		return nil, fmt.Errorf("the stored proposed index does not match its signed hash")
	}
	return layout.ParseIndex(data)
}
