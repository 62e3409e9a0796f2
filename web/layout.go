package web

import (
	"time"

	"hallmark.dev/hallmark/tufview"
)

// layoutTmpl is the frame of every page: "header" and "footer", given the
// page's Page.
const layoutTmpl = `
{{define "header"}}<!doctype html>
<html lang="en"><head>{{template "tv-head" "/static/style.css"}}<title>{{.Title}} · Hallmark</title></head>
<body><header class="top"><div class="bar">
<a class="brand" href="/">Hall<span>mark</span></a>
<nav><a href="/m/">Metadata</a></nav>
<form class="search" action="/" method="get" role="search"><input type="search" name="q" value="{{.Query}}" placeholder="Search projects" aria-label="Search projects" maxlength="200"></form>
</div></header>
{{if .Dev}}<div class="devbar"><strong>Development repository.</strong> Its offline keys are stored unencrypted beside the server: never use it for real releases.</div>{{end}}
<main>{{end}}

{{define "footer"}}</main>
<footer>This page is the server's view of its store, not verified for you. Download with <code>hallmark get</code>, which verifies every file with TUF against the root keys you pinned. <a href="/healthz">health</a> · <a href="/metadata/trust.json">trust.json</a></footer>
</body></html>{{end}}
`

// errorTmpl is the page of an error.
const errorTmpl = `{{define "error"}}{{template "header" .Page}}
<h1>{{.Page.Title}}</h1>
<p>{{.Message}}</p>
<p><a href="/">Search for a project</a></p>
{{template "footer" .Page}}{{end}}`

// timeText formats a time for people, in UTC.
func timeText(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

// ago says how long ago t was.
func ago(t, now time.Time) string {
	if t.IsZero() {
		return ""
	}
	d := now.Sub(t)
	if d < time.Minute {
		return "just now"
	}
	return tufview.Duration(d) + " ago"
}

// short is the first 8 hex digits of a key id.
func short(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}
