package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"hallmark.dev/hallmark/api"
	"hallmark.dev/hallmark/ceremony"
	"hallmark.dev/hallmark/layout"
	"hallmark.dev/hallmark/publish"
	"hallmark.dev/hallmark/store"
	"hallmark.dev/hallmark/validation"
)

// handleCeremony publishes an admins' ceremony: offline-signed roles of
// several shards. Nothing in it is trusted: every shard's change is
// validated against the published state before it is published.
func (s *Server) handleCeremony(w http.ResponseWriter, r *http.Request) {
	// One ceremony at a time, bounded by what S shards' offline roles can
	// weigh: anyone may post, so memory must stay bounded.
	select {
	case s.ceremonies <- struct{}{}:
		defer func() { <-s.ceremonies }()
	default:
		w.Header().Set("Retry-After", "10")
		writeError(w, http.StatusTooManyRequests, "busy", "another ceremony is being published", "try again in a few seconds")
		return
	}
	// A shard's root, targets and claimed bin weigh a few KB to a few
	// hundred KB (a claimed bin of ~500 projects).
	limit := min(int64(s.cfg.Shards)*256<<10+1<<20, s.cfg.MaxUpload)
	const hint = "a ceremony holds the offline roles of every shard; check that the file is one"
	if r.ContentLength > limit {
		s.writeBodyError(w, &http.MaxBytesError{Limit: limit}, limit, hint)
		return
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		if !s.writeBodyError(w, err, limit, hint) {
			writeError(w, http.StatusBadRequest, "bad_request", "failed to read the ceremony: "+err.Error(), "")
		}
		return
	}
	b, err := ceremony.ParseBundle(data)
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", err.Error(), "")
		return
	}
	if b.Kind == ceremony.KindInit {
		writeError(w, http.StatusConflict, "exists", "this repository is initialized already", "an init ceremony is given to 'hallmark serve --init-bundle' on a new data directory")
		return
	}
	if err := ceremony.CheckTrust(b); err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", err.Error(), "")
		return
	}
	if b.Shards != s.cfg.Shards {
		writeError(w, http.StatusBadRequest, "bad_request", fmt.Sprintf("the ceremony is for %d shards; this repository has %d", b.Shards, s.cfg.Shards), "")
		return
	}
	results := make([]api.CeremonyResult, len(b.Changes))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i, ch := range b.Changes {
		results[i].Shard = ch.Shard
		if !layout.IsShardID(ch.Shard, s.cfg.Shards) {
			results[i].Status, results[i].Error = "rejected", "no such shard"
			continue
		}
		roles, err := ch.Decode()
		if err != nil {
			results[i].Status, results[i].Error = "rejected", err.Error()
			continue
		}
		if roles.Root == nil && roles.Targets == nil && roles.Claimed == nil {
			// Found by FuzzCeremonyRequest: an empty change was answered
			// "published", to anyone.
			results[i].Status, results[i].Error = "rejected", "the ceremony proposes no role for this shard (root, targets or claimed bin)"
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			res, err := s.measurePublish(func() (publish.Result, error) {
				return s.cfg.Publisher.SubmitOffline(r.Context(), &publish.Offline{
					Shard: ch.Shard, Root: roles.Root, Targets: roles.Targets, Claimed: roles.Claimed, Claims: roles.Claims,
				})
			})
			switch {
			case err != nil:
				results[i].Status, results[i].Error = "rejected", "the server failed to publish: "+err.Error()
			case res.Outcome == validation.Accept:
				results[i].Status, results[i].SnapshotVersion = api.StatusPublished, res.SnapshotVersion
			default:
				results[i].Status, results[i].Error = "rejected", res.Reason.Error()
			}
		}()
	}
	wg.Wait()
	all := true
	for _, res := range results {
		all = all && res.Status == api.StatusPublished
	}
	if all && b.Trust != nil {
		tf, _ := json.MarshalIndent(b.Trust, "", "  ")
		if err := s.cfg.Blobs.Put(r.Context(), layout.TrustFile, strings.NewReader(string(tf))); err != nil {
			s.cfg.Log.Error("failed to write the new trust summary", "err", err)
		}
	}
	if all && s.cfg.AfterCeremony != nil {
		s.cfg.AfterCeremony(r.Context())
	}
	s.refreshBlocked(r.Context())
	s.loadSettings(r.Context())
	status := http.StatusOK
	if !all {
		status = http.StatusUnprocessableEntity
	}
	writeJSON(w, status, api.CeremonyResponse{Results: results})
}

// handleAdminStatus reports what needs the admins' attention. It is the
// server's view; admin tools verify what they act on.
func (s *Server) handleAdminStatus(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	out := api.AdminStatus{Note: api.UnverifiedNote, Shards: s.cfg.Shards, Unclaimed: []string{}, OwnerChanges: []string{}, Blocked: []api.BlockedReport{}}
	now := s.cfg.Now()
	kinds := []struct {
		kind   string
		role   func(shard string) string
		online bool
	}{
		{layout.RoleRoot, func(string) string { return layout.RoleRoot }, false},
		{layout.RoleTargets, func(string) string { return layout.RoleTargets }, false},
		{"claimed", layout.ClaimedRole, false},
		{"new", layout.NewRole, true},
		{layout.RoleSnapshot, func(string) string { return layout.RoleSnapshot }, true},
		{layout.RoleTimestamp, func(string) string { return layout.RoleTimestamp }, true},
	}
	for _, k := range kinds {
		e := api.RoleExpiry{Role: k.kind, Online: k.online}
		for _, shard := range layout.ShardIDs(s.cfg.Shards) {
			role := k.role(shard)
			rf, err := s.cfg.State.Role(ctx, shard, role)
			if err != nil {
				writeError(w, http.StatusInternalServerError, "internal", "failed to read "+role, "")
				return
			}
			if e.Earliest.IsZero() || rf.Expires.Before(e.Earliest) {
				e.Earliest, e.Shard = rf.Expires, shard
			}
			if s.policy().NeedsRenewal(role, rf.Expires, now) {
				e.InSigningPeriod++
			}
		}
		out.Expiries = append(out.Expiries, e)
	}
	counts, err := s.cfg.State.CountProjects(ctx)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "internal", "failed to count projects", "")
		return
	}
	out.UnclaimedTotal = counts[store.StatusNew]
	for _, f := range []struct {
		filter store.ProjectFilter
		add    func(store.Project)
	}{
		{store.ProjectFilter{Status: store.StatusNew}, func(p store.Project) { out.Unclaimed = append(out.Unclaimed, p.Name) }},
		{store.ProjectFilter{OwnerRequest: true}, func(p store.Project) { out.OwnerChanges = append(out.OwnerChanges, p.Name) }},
		{store.ProjectFilter{Blocked: true}, func(p store.Project) {
			out.Blocked = append(out.Blocked, api.BlockedReport{Project: p.Name, Reason: p.BlockReason})
		}},
	} {
		list, err := s.cfg.State.ListProjectsWhere(ctx, f.filter, "", 10000)
		if err != nil {
			writeError(w, http.StatusInternalServerError, "internal", "failed to list projects", "")
			return
		}
		for _, p := range list {
			f.add(p)
		}
	}
	_, _, _, renewals, last, lastErr, lastErrTime := s.cfg.Publisher.Snapshot()
	out.Renewal = api.RenewalStatus{LastRenewal: last, Renewals: renewals, LastError: lastErr, LastErrorTime: lastErrTime}
	out.Renewal.Healthy, out.Renewal.HealthyMessage = s.onlineHealth(ctx)
	writeJSON(w, http.StatusOK, out)
}

// onlineHealth checks that no shard's online metadata has expired or is
// past its signing period (renewal should have happened).
func (s *Server) onlineHealth(ctx context.Context) (bool, string) {
	now := s.cfg.Now()
	if behind := s.cfg.Publisher.Behind(); len(behind) > 0 {
		shards := slices.Sorted(maps.Keys(behind))
		return false, fmt.Sprintf("%d shard(s) behind: their newest publication is not served yet (shard %s %s)", len(behind), shards[0], behind[shards[0]])
	}
	for _, shard := range layout.ShardIDs(s.cfg.Shards) {
		for _, role := range []string{layout.RoleTimestamp, layout.RoleSnapshot, layout.NewRole(shard)} {
			rf, err := s.cfg.State.Role(ctx, shard, role)
			if err != nil {
				return false, fmt.Sprintf("cannot read %s of shard %s: %v", role, shard, err)
			}
			if !rf.Expires.After(now) {
				return false, fmt.Sprintf("%s of shard %s expired at %s: online renewal is not working", role, shard, rf.Expires.Format(time.RFC3339))
			}
			// Renewal runs every few minutes inside a signing period of
			// hours or days; still being in it after half of it has passed
			// means renewal is failing.
			if now.After(rf.Expires.Add(-s.policy().For(role).Signing / 2)) {
				return false, fmt.Sprintf("%s of shard %s expires %s and was not renewed: online renewal is behind", role, shard, rf.Expires.Format(time.RFC3339))
			}
		}
	}
	msg := "online metadata is fresh in every shard"
	for _, w := range s.cfg.Publisher.WitnessHealth() {
		if w.Failures > 0 {
			msg += fmt.Sprintf("\nwitness %s (%s): not answering: %s", w.Name, w.URL, w.LastError)
		} else {
			msg += fmt.Sprintf("\nwitness %s (%s): last co-signature %s ago", w.Name, w.URL, now.Sub(w.LastOK).Round(time.Second))
		}
	}
	return true, msg
}

// blockedSet is the in-memory set of blocked projects, consulted on every
// static request.
type blockedSet struct {
	mu      sync.RWMutex
	m       map[string]string
	started time.Time // when the query behind m began

	// run is the re-read of the set in flight, if any (see recheckBlocked).
	runMu sync.Mutex
	run   *blockedRun
}

// blockedRun is one re-read of the blocked projects: requests that arrive
// while it runs wait for the next one, which starts after them.
type blockedRun struct {
	start time.Time
	done  chan struct{}
}

func (b *blockedSet) get(project string) (string, bool) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	r, ok := b.m[project]
	return r, ok
}

func (s *Server) refreshBlocked(ctx context.Context) {
	start := time.Now()
	list, err := s.cfg.State.ListProjectsWhere(context.WithoutCancel(ctx), store.ProjectFilter{Blocked: true}, "", 1<<20)
	if err != nil {
		s.cfg.Log.Error("failed to list blocked projects", "err", err)
		return
	}
	m := map[string]string{}
	for _, p := range list {
		m[p.Name] = p.BlockReason
	}
	s.blocked.mu.Lock()
	defer s.blocked.mu.Unlock()
	// A slow query begun before a faster one must not undo what the
	// faster one read.
	if start.Before(s.blocked.started) {
		return
	}
	s.blocked.m, s.blocked.started = m, start
}

// recheckBlocked re-reads the blocked projects with a query that begins
// after the call, unless ctx ends first. Calls that overlap share a query,
// so a flood of requests for a blocked project costs at most two queries
// at a time, never one each.
func (s *Server) recheckBlocked(ctx context.Context) {
	asked := time.Now()
	b := &s.blocked
	for {
		b.runMu.Lock()
		run := b.run
		if run == nil {
			run = &blockedRun{start: time.Now(), done: make(chan struct{})}
			b.run = run
			b.runMu.Unlock()
			s.refreshBlocked(ctx)
			b.runMu.Lock()
			b.run = nil
			b.runMu.Unlock()
			close(run.done)
			return
		}
		b.runMu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-run.done:
		}
		if !run.start.Before(asked) {
			return // that query began after this call
		}
	}
}

// blockedNow is blockedPath for the answer a client sees. With replicas,
// a project another replica just unblocked may still be blocked in this
// replica's set (re-read every RefreshEvery); a client told "unblocked"
// must not get 410 from here, so a blocked answer is checked against the
// database first. Blocking is not checked so: a request for a project
// being blocked right now may still be served for up to RefreshEvery,
// which the metadata makes harmless (the block publishes a delegation to
// a key nobody holds).
func (s *Server) blockedNow(ctx context.Context, path string) (string, string, bool) {
	project, reason, blocked := s.blockedPath(path)
	if !blocked || !s.cfg.SharedState {
		return project, reason, blocked
	}
	s.recheckBlocked(ctx)
	return s.blockedPath(path)
}

// blockedPath reports whether a served path belongs to a blocked project:
// its targets, or its roles' metadata files.
func (s *Server) blockedPath(path string) (string, string, bool) {
	var project string
	switch {
	case strings.HasPrefix(path, "targets/"):
		project, _, _ = strings.Cut(strings.TrimPrefix(path, "targets/"), "/")
	case strings.HasPrefix(path, "metadata/"):
		parts := strings.Split(path, "/")
		if len(parts) != 3 {
			return "", "", false
		}
		role, _, ok := layout.ParseMetadataFile(parts[2])
		if !ok {
			return "", "", false // timestamp.json and the like
		}
		kind, p := layout.ParseRole(role)
		if kind != layout.KindOwners && kind != layout.KindReleases {
			return "", "", false
		}
		project = p
	default:
		return "", "", false
	}
	reason, ok := s.blocked.get(project)
	return project, reason, ok
}
