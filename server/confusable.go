package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"hallmark.dev/hallmark/store"
)

// checkConfusable refuses to create a project whose name a reader could
// take for an existing project's (same layout.Skeleton), unless the admins'
// signed settings allow the name. It writes the answer and returns false
// when the creation must stop.
//
// Two look-alike names created at the same moment in different shards can
// both pass: the check reads the store before the publisher commits.
func (s *Server) checkConfusable(ctx context.Context, w http.ResponseWriter, project, display string) bool {
	if s.settings().AllowsConfusable(project) {
		return true
	}
	other, err := s.cfg.State.ProjectLike(ctx, project)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return true
	case err != nil:
		s.cfg.Log.Error("failed to look for look-alike project names", "project", project, "err", err)
		writeError(w, http.StatusInternalServerError, "internal", "failed to check the name; nothing was created", "try again later")
		return false
	}
	writeError(w, http.StatusConflict, "confusable",
		fmt.Sprintf("project name %q looks like the existing project %s (the same once case, separators and look-alike characters such as 0/o, 1/l/i, rn/m are ignored); nothing was created", display, other.Name),
		fmt.Sprintf("choose a clearly different name; if %s is legitimate, ask the repository's admins to allow it ('hallmark admin config --set allow-confusable+=%s')", project, project))
	return false
}
