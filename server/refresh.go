package server

import (
	"context"
	"time"
)

// RefreshEvery is how often a replica re-reads what it keeps in memory from
// a shared database (blocked projects, the signed settings): another
// replica may have published a ceremony that changed them. It bounds how
// long such a change takes to reach every replica (plus one query); changes
// this replica publishes apply at once. Published files are never stale:
// with a bucket they are read on every request, and a blob directory's
// copies are checked against the file (fresh).
const RefreshEvery = time.Second

// RunRefresh re-reads the blocked projects and the settings every interval,
// and runs Config.AfterCeremony, until ctx ends. A server whose state no
// other process changes has no need of it.
func (s *Server) RunRefresh(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.refreshBlocked(ctx)
		s.loadSettings(ctx)
		// A ceremony published through another replica is followed here
		// as through this one (an online key rotation is finished, each
		// replica in its own data directory). Cheap when nothing follows.
		if s.cfg.AfterCeremony != nil {
			s.cfg.AfterCeremony(ctx)
		}
	}
}
