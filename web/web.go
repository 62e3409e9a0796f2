// Package web is Hallmark's web UI: server-rendered pages of projects,
// releases, files, history and metadata, fast, linkable and usable without
// JavaScript.
//
// Nothing on these pages is verified for the reader: they show the server's
// view of its own store, as a convenience for people. Every page also answers
// with its view-model as JSON (?format=json), which says so in its "note"
// field. Downloaders verify with TUF (`hallmark get`); the pages tell them
// how. The metadata browser checks each role's signatures against the role
// that delegates it, with package tufview.
//
// The package reads only the store and the published metadata; it never
// writes and never signs. Every page is escaped by html/template and served
// with a Content-Security-Policy that allows no script at all.
package web

import (
	"context"
	"encoding/json"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
	"hallmark.dev/hallmark/api"

	"hallmark.dev/hallmark/layout"
	"hallmark.dev/hallmark/store"
	"hallmark.dev/hallmark/tufmeta"
	"hallmark.dev/hallmark/tufview"
	"hallmark.dev/hallmark/witness"
)

// Renewal is the state of the server's automatic renewal of online
// metadata, as the publisher counts it.
type Renewal struct {
	Renewals      int64
	LastRenewal   time.Time
	LastError     string
	LastErrorTime time.Time
	Batches       int64
	Published     int64
	Rejected      int64
}

// Counters is what the publisher's Snapshot method returns; RenewalFrom
// turns it into a Renewal source without this package importing publish.
type Counters interface {
	Snapshot() (batches, published, rejected, renewals int64, lastRenewal time.Time, lastErr string, lastErrTime time.Time)
}

// RenewalFrom returns a function reading the renewal state from c.
func RenewalFrom(c Counters) func() Renewal {
	return func() Renewal {
		var r Renewal
		r.Batches, r.Published, r.Rejected, r.Renewals, r.LastRenewal, r.LastError, r.LastErrorTime = c.Snapshot()
		return r
	}
}

// Config holds the UI's dependencies.
type Config struct {
	State  store.State
	Blobs  store.Blobs
	Shards int
	// Renewal reports the online renewal state; nil when unknown.
	Renewal func() Renewal
	Log     *slog.Logger
	Now     func() time.Time
	Policy  layout.Policy
	// Dev marks a development repository (shown on every page).
	Dev bool
	// Witnesses reports the witnesses and the shards waiting for them;
	// nil when unknown.
	Witnesses WitnessSource
}

// WitnessSource is what the publisher says of its witnesses.
type WitnessSource interface {
	WitnessHealth() []witness.Health
	Behind() map[string]string
}

// Handler serves the pages.
type Handler struct {
	cfg      Config
	t        *template.Template
	health   healthCache
	bins     binCache
	verdicts verdictCache
	pol      struct {
		sync.Mutex
		at time.Time
		v  layout.Policy
	}
}

// policy is the expiry policy the admins signed (read from the first
// shard's targets at most every 30 s), or the configured one.
func (h *Handler) policy(ctx context.Context) layout.Policy {
	h.pol.Lock()
	defer h.pol.Unlock()
	now := h.cfg.Now()
	if !h.pol.at.IsZero() && now.Sub(h.pol.at) < 30*time.Second && !now.Before(h.pol.at) {
		return h.pol.v
	}
	h.pol.v, h.pol.at = h.cfg.Policy, now
	if rf, err := h.cfg.State.Role(ctx, layout.ShardIDs(h.cfg.Shards)[0], layout.RoleTargets); err == nil {
		if md, err := tufmeta.Decode[metadata.TargetsType](rf.Data); err == nil {
			if s, err := tufmeta.SettingsOf(md); err == nil {
				h.pol.v = s.Expiry
			}
		}
	}
	return h.pol.v
}

// New returns the UI handler. It panics if a template does not parse: the
// templates are part of the program, and the package's tests parse them.
func New(cfg Config) *Handler {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Policy == (layout.Policy{}) {
		cfg.Policy = layout.DefaultPolicy()
	}
	t := template.Must(tufview.Templates())
	for _, text := range []string{layoutTmpl, homeTmpl, healthTmpl, projectTmpl, pendingTmpl, releaseTmpl, fileTmpl, historyTmpl, metaTmpl, shardTmpl, errorTmpl} {
		template.Must(t.Parse(text))
	}
	return &Handler{cfg: cfg, t: t, bins: binCache{m: map[string]*binEntry{}}}
}

// Register adds the UI's routes to mux. All routes are here, so the whole
// surface is visible at a glance.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.Handle("GET /{$}", h.page(h.home))
	mux.Handle("GET /static/style.css", secure(http.HandlerFunc(h.style)))
	mux.Handle("GET /p/{project}", h.page(h.project))
	mux.Handle("GET /p/{project}/history", h.page(h.history))
	mux.Handle("GET /p/{project}/{version}", h.page(h.release))
	mux.Handle("GET /p/{project}/{version}/{file}", h.page(h.file))
	mux.Handle("GET /m/{$}", h.page(h.shards))
	mux.Handle("GET /m/{shard}", h.page(h.shard))
	mux.Handle("GET /m/{shard}/{role}", h.page(h.meta))
}

// Page is what every page's view-model starts with.
type Page struct {
	// Note says that the page is the server's unverified view.
	Note  string `json:"note"`
	Title string `json:"title"`
	// Query fills the search box.
	Query string `json:"-"`
	Dev   bool   `json:"dev,omitempty"`
}

// view is a page's view-model: the name of its template and its data.
type view struct {
	template string
	data     any
	status   int
}

// pageFunc builds a page. A *httpError is shown to the user as it is; any
// other error is logged and shown as an internal error.
type pageFunc func(r *http.Request) (view, error)

// httpError is an error the user should see, with its status.
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func notFound(msg string) error { return &httpError{status: http.StatusNotFound, msg: msg} }

// redirect is returned by a page that moved (a name not in normal form).
type redirect struct{ to string }

func (r *redirect) Error() string { return "moved to " + r.to }

func (h *Handler) base(title string, r *http.Request) Page {
	return Page{Note: api.UnverifiedNote, Title: title, Dev: h.cfg.Dev}
}

// page runs a pageFunc and renders its view as HTML, or as JSON with
// ?format=json.
func (h *Handler) page(f pageFunc) http.Handler {
	return secure(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asJSON := r.URL.Query().Get("format") == "json"
		v, err := f(r)
		var rd *redirect
		if errors.As(err, &rd) {
			to := rd.to
			if r.URL.RawQuery != "" {
				to += "?" + r.URL.RawQuery
			}
			http.Redirect(w, r, to, http.StatusMovedPermanently)
			return
		}
		if err != nil {
			h.fail(w, r, err, asJSON)
			return
		}
		if v.status == 0 {
			v.status = http.StatusOK
		}
		if asJSON {
			writeJSON(w, v.status, v.data)
			return
		}
		h.render(w, v.status, v.template, v.data)
	}))
}

func (h *Handler) render(w http.ResponseWriter, status int, name string, data any) {
	// Render into a buffer first, so a template error becomes a clean 500
	// rather than half a page.
	var buf bufferWriter
	if err := h.t.ExecuteTemplate(&buf, name, data); err != nil {
		h.cfg.Log.Error("failed to render page", "template", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.b)
}

type bufferWriter struct{ b []byte }

func (b *bufferWriter) Write(p []byte) (int, error) { b.b = append(b.b, p...); return len(p), nil }

// errorPage is the view-model of an error page.
type errorPage struct {
	Page
	Status  int    `json:"status"`
	Message string `json:"message"`
}

func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error, asJSON bool) {
	var he *httpError
	if !errors.As(err, &he) {
		h.cfg.Log.Error("failed to build page", "path", r.URL.Path, "err", err)
		he = &httpError{status: http.StatusInternalServerError, msg: "internal error: the page could not be built"}
	}
	if asJSON {
		writeJSON(w, he.status, api.ErrorResponse{Error: api.Error{Code: http.StatusText(he.status), Message: he.msg}})
		return
	}
	p := errorPage{Page: h.base(http.StatusText(he.status), r), Status: he.status, Message: he.msg}
	h.render(w, he.status, "error", p)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// contentSecurityPolicy allows the pages' own stylesheet and nothing else:
// no script, no frames, no form posting elsewhere.
const contentSecurityPolicy = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// secure sets the safety headers of every UI response.
func secure(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", contentSecurityPolicy)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "same-origin")
		hd.Set("Cross-Origin-Opener-Policy", "same-origin")
		hd.Set("Cache-Control", "no-cache")
		next.ServeHTTP(w, r)
	})
}

func (h *Handler) style(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	w.Write(tufview.Stylesheet())
}
