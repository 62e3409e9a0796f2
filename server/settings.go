package server

import (
	"context"
	"crypto/subtle"
	"net/http"
	"sync"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"hallmark.dev/hallmark/layout"
	"hallmark.dev/hallmark/tufmeta"
)

// RegistrationTokenHeader carries a registration token when the
// repository's settings require one to create a project.
const RegistrationTokenHeader = "Hallmark-Registration-Token"

// settings returns the repository settings in force.
func (s *Server) settings() layout.Settings {
	s.set.mu.RLock()
	defer s.set.mu.RUnlock()
	return s.set.v
}

// policy is the expiry policy in force.
func (s *Server) policy() layout.Policy { return s.settings().Expiry }

// loadSettings reads the settings the admins signed into the first shard's
// top-level targets, and hands the expiry policy to the publisher.
func (s *Server) loadSettings(ctx context.Context) {
	v := layout.DefaultSettings()
	v.Expiry = s.cfg.Policy
	rf, err := s.cfg.State.Role(ctx, layout.ShardIDs(s.cfg.Shards)[0], layout.RoleTargets)
	if err == nil {
		md, err := tufmeta.Decode[metadata.TargetsType](rf.Data)
		if err == nil {
			if got, err := tufmeta.SettingsOf(md); err == nil {
				v = got
			} else {
				s.cfg.Log.Error("the signed repository settings are invalid; using defaults", "err", err)
			}
		}
	}
	s.set.mu.Lock()
	s.set.v = v
	s.set.mu.Unlock()
	if s.cfg.Publisher != nil {
		s.cfg.Publisher.SetPolicy(v.Expiry)
	}
}

// checkRegistration enforces the registration mode and the creation rate
// limit; it answers the request and returns false when refused.
func (s *Server) checkRegistration(w http.ResponseWriter, r *http.Request) bool {
	if s.settings().Registration == layout.RegistrationToken {
		tok := r.Header.Get(RegistrationTokenHeader)
		ok := false
		for _, t := range s.cfg.RegistrationTokens {
			if t != "" && subtle.ConstantTimeCompare([]byte(t), []byte(tok)) == 1 {
				ok = true
			}
		}
		if !ok {
			writeError(w, http.StatusForbidden, "registration_closed", "this repository creates projects only with a registration token", "ask the repository's operators for one, and pass it with --registration-token or HALLMARK_REGISTRATION_TOKEN")
			return false
		}
	}
	if !s.creates.allow(clientIP(r), s.cfg.Now(), s.cfg.CreateRate) {
		w.Header().Set("Retry-After", "60")
		writeError(w, http.StatusTooManyRequests, "rate_limited", "too many projects created from your address; try again in a minute", "")
		return false
	}
	return true
}

func clientIP(r *http.Request) string {
	return hostOf(r.RemoteAddr)
}

// limiter is a per-address token bucket refilled at rate per minute.
type limiter struct {
	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func (l *limiter) allow(key string, now time.Time, perMinute int) bool {
	if perMinute <= 0 {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.buckets == nil {
		l.buckets = map[string]*bucket{}
	}
	if len(l.buckets) > 100000 {
		l.buckets = map[string]*bucket{} // bound memory; the limit is a courtesy
	}
	b, ok := l.buckets[key]
	if !ok {
		b = &bucket{tokens: float64(perMinute), last: now}
		l.buckets[key] = b
	}
	b.tokens = min(float64(perMinute), b.tokens+now.Sub(b.last).Minutes()*float64(perMinute))
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// Policy returns the expiry policy the admins signed.
func (s *Server) Policy() layout.Policy { return s.policy() }
