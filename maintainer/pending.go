package maintainer

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"hallmark.dev/hallmark/api"
	"hallmark.dev/hallmark/explain"
	"hallmark.dev/hallmark/layout"
	"hallmark.dev/hallmark/signing"
	"hallmark.dev/hallmark/tufmeta"
	"hallmark.dev/hallmark/validation"
)

// Pending is a pending change, verified against the project's state as
// learned through TUF: its signatures are genuine, it builds on the current
// versions, and it passes the server's validation. Its Lines explain it.
type Pending struct {
	ID      string
	Project string
	Expires time.Time
	Lines   []string
	// Signers are the key ids whose signatures it carries.
	Signers []string
	// SignedBy names each of Signers in plain words: label and full key id.
	SignedBy []string
	plan     *Plan
}

// Plan is the verified change as a plan, to compare it with others.
func (p *Pending) Plan() *Plan { return p.plan }

// MaySign reports whether key can add a signature the change still lacks.
func (p *Pending) MaySign(key signing.PublicKey) bool {
	o, r := p.plan.MaySign(key)
	id := key.ID()
	if o && !signedBy(p.plan.owners, id) {
		return true
	}
	return r && !signedBy(p.plan.releases, id)
}

func signedBy(md *tufmeta.Targets, id string) bool {
	if md == nil {
		return true
	}
	for _, s := range md.Signatures {
		if s.KeyID == id {
			return true
		}
	}
	return false
}

// Refused is a pending change the tool will not sign, and why.
type Refused struct {
	ID      string
	Project string
	Expires time.Time
	Reason  error
	// Superseded is set when a change published after it changed a role
	// it changes: its author can plan and sign it again (Replan).
	Superseded bool
}

// ErrSuperseded is the reason a pending change that builds on a version
// older than the published one can never apply.
var ErrSuperseded = errors.New("it no longer applies")

// ListPending fetches the pending changes of project ("" for every
// project) and verifies each. Changes that fail verification are returned
// as refused, with the reason: the server may be lying, or the change may
// no longer apply.
func (t *Tool) ListPending(ctx context.Context, project string) ([]*Pending, []Refused, error) {
	u := t.Client.Repo() + "/api/v1/pending"
	if project != "" {
		name, err := layout.ParseProjectName(project)
		if err != nil {
			return nil, nil, err
		}
		u = t.Client.Repo() + "/api/v1/projects/" + name + "/pending"
	}
	body, err := t.get(ctx, u, 16<<20)
	if err != nil {
		return nil, nil, err
	}
	var list api.PendingList
	if err := json.Unmarshal(body, &list); err != nil {
		return nil, nil, fmt.Errorf("the server's list of pending changes is malformed: %w", err)
	}
	var ok []*Pending
	var bad []Refused
	for _, raw := range list.Pending {
		// The server's own "superseded" flag is not trusted: whether the
		// change builds on an older version than the verified one decides.
		p, err := t.verifyPending(ctx, raw)
		if err != nil {
			bad = append(bad, Refused{ID: raw.ID, Project: raw.Project, Expires: raw.Expires, Reason: err, Superseded: errors.Is(err, ErrSuperseded)})
			continue
		}
		ok = append(ok, p)
	}
	return ok, bad, nil
}

func (t *Tool) get(ctx context.Context, u string, limit int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := t.httpClient().Do(req)
	if err != nil {
		return nil, fmt.Errorf("failed to reach the repository: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		if _, err := decodeOutcome(resp.StatusCode, body); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("GET %s: HTTP %d", u, resp.StatusCode)
	}
	return body, nil
}

// verifyPending checks a pending change against verified state.
func (t *Tool) verifyPending(ctx context.Context, raw api.PendingChange) (*Pending, error) {
	base, err := t.state(ctx, raw.Project)
	if err != nil {
		return nil, err
	}
	var req api.ChangeRequest
	if err := json.Unmarshal(raw.Change, &req); err != nil {
		return nil, fmt.Errorf("malformed change: %w", err)
	}
	plan := &Plan{Project: base.Name, base: base}
	if len(req.OwnersRole) > 0 {
		if plan.owners, err = tufmeta.Decode[metadata.TargetsType](req.OwnersRole); err != nil {
			return nil, fmt.Errorf("owners role: %w", err)
		}
	}
	if len(req.ReleasesRole) > 0 {
		if plan.releases, err = tufmeta.Decode[metadata.TargetsType](req.ReleasesRole); err != nil {
			return nil, fmt.Errorf("releases role: %w", err)
		}
	}
	if plan.owners == nil && plan.releases == nil {
		return nil, errors.New("the change proposes no role")
	}
	// It must build on the versions we verified.
	stale := func(proposed, published int64) error {
		if proposed < published+1 {
			return ErrSuperseded // built on an older version: superseded
		}
		return errors.New(ErrSuperseded.Error()) // built on a version never published
	}
	if plan.owners != nil && plan.owners.Signed.Version != base.OwnersRole.Signed.Version+1 {
		return nil, fmt.Errorf("%w: it changes owners role version %d, but version %d is published", stale(plan.owners.Signed.Version, base.OwnersRole.Signed.Version), plan.owners.Signed.Version-1, base.OwnersRole.Signed.Version)
	}
	if plan.releases != nil && plan.releases.Signed.Version != base.ReleasesRole.Signed.Version+1 {
		return nil, fmt.Errorf("%w: it changes releases version %d, but version %d is published", stale(plan.releases.Signed.Version, base.ReleasesRole.Signed.Version), plan.releases.Signed.Version-1, base.ReleasesRole.Signed.Version)
	}
	// Every signature must be genuine, by a key entitled to sign; at least
	// one must be by a key the verified current state trusts (a current
	// owner or maintainer), so the server cannot propose changes of its own
	// — not even by declaring a key it made a new owner and signing with it.
	signers, err := checkPendingSignatures(plan)
	if err != nil {
		return nil, err
	}
	if err := validation.CheckProposers(base.Name, base.Owners, base.OwnersRole, base.ReleasesRole, plan.owners, plan.releases); err != nil {
		return nil, err
	}
	if plan.releases != nil {
		if err := t.pendingIndex(ctx, raw, plan); err != nil {
			return nil, err
		}
	}
	if err := t.validate(plan); err != nil {
		return nil, err
	}
	var ix *layout.Index
	if plan.releases != nil {
		if ix, err = layout.ParseIndex(plan.index); err != nil {
			return nil, err
		}
	}
	plan.explain(ix)
	slices.Sort(signers)
	signers = slices.Compact(signers)
	return &Pending{ID: raw.ID, Project: base.Name, Expires: raw.Expires, Lines: plan.Lines, Signers: signers,
		SignedBy: explain.Signers(explainState(base), plan.newState(ix), signers), plan: plan}, nil
}

func checkPendingSignatures(plan *Plan) ([]string, error) {
	var signers []string
	check := func(md *tufmeta.Targets, dels []tufmeta.Delegation, role string) error {
		for _, s := range md.Signatures {
			ok := false
			for _, d := range dels {
				if _, known := d.Keys[s.KeyID]; !known {
					continue
				}
				c, err := tufmeta.Count(&tufmeta.Targets{Signed: md.Signed, Signatures: []metadata.Signature{s}}, d)
				if err != nil {
					return err
				}
				ok = len(c.Valid) == 1
				break
			}
			if !ok {
				return fmt.Errorf("the %s carries a signature by key %.8s that is not genuine or not entitled: the change was altered after it was signed", role, s.KeyID)
			}
			signers = append(signers, s.KeyID)
		}
		return nil
	}
	ownersRole := plan.base.OwnersRole
	if plan.owners != nil {
		dels := []tufmeta.Delegation{plan.base.Owners}
		if d, ok, err := tufmeta.DeclaredOwners(plan.owners); err == nil && ok {
			dels = append(dels, d)
		}
		if err := check(plan.owners, dels, "owners role"); err != nil {
			return nil, err
		}
		ownersRole = plan.owners
	}
	if plan.releases != nil {
		d, _, err := tufmeta.TargetsDelegation(ownersRole, layout.ReleasesRole(plan.Project))
		if err != nil {
			return nil, err
		}
		if err := check(plan.releases, []tufmeta.Delegation{d}, "releases role"); err != nil {
			return nil, err
		}
	}
	return signers, nil
}

// pendingIndex fetches the proposed project index and checks it against
// its signed hash.
func (t *Tool) pendingIndex(ctx context.Context, raw api.PendingChange, plan *Plan) error {
	tf := plan.releases.Signed.Targets[layout.IndexPath(plan.Project)]
	if tf == nil {
		return errors.New("the proposed releases list no project index")
	}
	if tf.VerifyLengthHashes(plan.base.IndexBytes) == nil {
		plan.index = plan.base.IndexBytes
		return nil
	}
	sum := hex.EncodeToString(tf.Hashes["sha256"])
	u := t.Client.Repo() + "/api/v1/projects/" + plan.Project + "/pending/" + url.PathEscape(raw.ID) + "/files/" + sum
	data, err := t.get(ctx, u, layout.MaxIndexSize+1)
	if err != nil {
		return fmt.Errorf("failed to fetch the proposed project index: %w", err)
	}
	if err := tf.VerifyLengthHashes(data); err != nil {
		return errors.New("the server's copy of the proposed project index does not match its signed hash")
	}
	plan.index = data
	return nil
}

// Approve adds key's signatures to a verified pending change.
func (t *Tool) Approve(ctx context.Context, p *Pending, key *signing.Key) (*Outcome, error) {
	if !p.MaySign(key.Public()) {
		return nil, fmt.Errorf("key %s (%s) cannot add a signature to this change: it has signed already, or it is not an owner or maintainer it needs", key.Public().ShortID(), key.Label())
	}
	o, r := p.plan.MaySign(key.Public())
	var sreq api.SignaturesRequest
	if o && !signedBy(p.plan.owners, key.ID()) {
		if err := tufmeta.Sign(p.plan.owners, key); err != nil {
			return nil, err
		}
		sreq.OwnersRole = ownSig(p.plan.owners, key.ID())
	}
	if r && !signedBy(p.plan.releases, key.ID()) {
		if err := tufmeta.Sign(p.plan.releases, key); err != nil {
			return nil, err
		}
		sreq.ReleasesRole = ownSig(p.plan.releases, key.ID())
	}
	if err := t.validate(p.plan); err != nil {
		return nil, err
	}
	status, rb, err := t.Client.PostJSON(ctx, t.httpClient(), "/api/v1/projects/"+p.Project+"/pending/"+url.PathEscape(p.ID)+"/signatures", sreq, 1<<20)
	if err != nil {
		return nil, err
	}
	return decodeOutcome(status, rb)
}

func ownSig(md *tufmeta.Targets, id string) []metadata.Signature {
	for _, s := range md.Signatures {
		if s.KeyID == id {
			return []metadata.Signature{s}
		}
	}
	return nil
}

// Superseding is a pending change that a plan, once published, supersedes.
type Superseding struct {
	ID string
	// Lines explain it, when it could be verified; else Reason says why not.
	Lines  []string
	Reason error
}

// WouldSupersede lists the pending changes of the plan's project that can
// no longer apply once the plan is published: those changing a role the
// plan changes (and those the tool cannot verify, which might).
func (t *Tool) WouldSupersede(ctx context.Context, plan *Plan) ([]Superseding, error) {
	list, refused, err := t.ListPending(ctx, plan.Project)
	if err != nil {
		return nil, err
	}
	var out []Superseding
	for _, p := range list {
		if (plan.owners != nil && p.plan.owners != nil) || (plan.releases != nil && p.plan.releases != nil) {
			out = append(out, Superseding{ID: p.ID, Lines: p.Lines})
		}
	}
	for _, r := range refused {
		if !r.Superseded {
			out = append(out, Superseding{ID: r.ID, Reason: r.Reason})
		}
	}
	return out, nil
}
