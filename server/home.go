package server

import (
	"html/template"
	"net/http"

	"hallmark.dev/hallmark/layout"
)

var homeTmpl = template.Must(template.New("home").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Hallmark repository</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;color:#222}
code,pre{background:#f4f4f4;padding:.1rem .3rem;border-radius:3px}.dev{background:#fff3cd;padding:.5rem 1rem;border-radius:4px}</style>
</head><body>
<h1>Hallmark repository</h1>
{{if .Dev}}<p class="dev"><strong>Development repository.</strong> Its offline keys are stored unencrypted beside the server: never use it for real releases.</p>{{end}}
<p>Every file here is signed by its project's maintainers and verified by downloaders with
<a href="https://theupdateframework.io/">TUF</a>. The server cannot change what you download.</p>
<h2>Use it</h2>
<pre>hallmark trust {{.URL}}
hallmark get PROJECT</pre>
<p>{{.Shards}} shard(s). Metadata: <code>{{.URL}}/metadata/&lt;shard&gt;/</code>, targets: <code>{{.URL}}/targets/</code>,
trust summary: <a href="/{{.TrustFile}}"><code>/{{.TrustFile}}</code></a>.</p>
</body></html>
`))

func (s *Server) handleHome(w http.ResponseWriter, r *http.Request) {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	homeTmpl.Execute(w, map[string]any{
		"Dev": s.cfg.Dev, "Shards": s.cfg.Shards, "URL": scheme + "://" + r.Host, "TrustFile": layout.TrustFile,
	})
}
