package web

import (
	"encoding/hex"
	"net/http"

	"hallmark.dev/hallmark/layout"
)

// filePage shows one release file: its hashes, where to download it and
// how to check it.
type filePage struct {
	Page
	Project     string   `json:"project"`
	Display     string   `json:"display"`
	ProjectHref string   `json:"project_href"`
	Version     string   `json:"version"`
	ReleaseHref string   `json:"release_href"`
	Yanked      bool     `json:"yanked"`
	File        fileView `json:"file"`
	TargetPath  string   `json:"target_path"`
	// RoleSHA256 is the hash the releases role lists for the file; it
	// equals File.SHA256 unless the store is inconsistent.
	RoleSHA256   string `json:"role_sha256"`
	RoleHref     string `json:"role_href"`
	RoleName     string `json:"role"`
	GetCommand   string `json:"get_command"`
	CheckCommand string `json:"check_command"`
	CheckOutput  string `json:"check_output"`
	Mismatch     bool   `json:"mismatch,omitempty"`
}

const fileTmpl = `{{define "file"}}{{template "header" .Page}}
<p class="crumbs"><a href="/">Projects</a> › <a href="{{.ProjectHref}}">{{.Display}}</a> › <a href="{{.ReleaseHref}}">{{.Version}}</a> › {{.File.Name}}</p>
<h1>{{.File.Name}}{{if .Yanked}} <span class="badge warn">yanked release</span>{{end}}</h1>
{{if .Mismatch}}<div class="alert bad" role="alert">The project index and the releases role disagree about this file's hash. Do not use it; report it to the repository's operators.</div>{{end}}
<dl class="facts">
<dt>Project</dt><dd><a href="{{.ProjectHref}}">{{.Display}}</a> {{.Version}}</dd>
<dt>Size</dt><dd>{{.File.Size}} <span class="muted">({{.File.Length}} bytes)</span></dd>
<dt>SHA-256</dt><dd><code class="hash copy" id="sha256">{{.File.SHA256}}</code></dd>
<dt>Target path</dt><dd><code>{{.TargetPath}}</code></dd>
<dt>Signed in</dt><dd><a href="{{.RoleHref}}">{{.RoleName}}</a>, by the project's maintainers</dd>
<dt>Download</dt><dd><a href="{{.File.Download}}" download="{{.File.Name}}" id="download">{{.File.Name}}</a> <span class="muted small">(unverified: check it as below)</span></dd>
</dl>
<h2>Get it verified</h2>
<p>The Hallmark client checks the file against the metadata its maintainers signed, starting from the root keys you pinned with <code>hallmark trust</code>:</p>
<pre><code class="copy">{{.GetCommand}}</code></pre>
<h2>Or check a download by hand</h2>
<p>A hash on a web page is only as trustworthy as the page. If you downloaded the file another way, compare its SHA-256 with the one <code>hallmark</code> verified, or at least with this one:</p>
<pre><code class="copy">{{.CheckCommand}}</code></pre>
<p class="muted small">It must print exactly:</p>
<pre><code>{{.CheckOutput}}</code></pre>
{{template "footer" .Page}}{{end}}`

func (h *Handler) file(r *http.Request) (view, error) {
	version, fileName := r.PathValue("version"), r.PathValue("file")
	name, err := projectName(r, "/"+version+"/"+fileName)
	if err != nil {
		return view{}, err
	}
	if _, err := layout.ParseVersion(version); err != nil {
		return view{}, notFound(err.Error())
	}
	if err := layout.CheckFilename(fileName); err != nil {
		return view{}, notFound(err.Error())
	}
	s, err := h.loadProject(r.Context(), name)
	if err != nil {
		return view{}, err
	}
	rel, latest, err := findRelease(s, version)
	if err != nil {
		return view{}, err
	}
	rv := releaseViewOf(name, rel, latest)
	var fv *fileView
	for i := range rv.Files {
		if rv.Files[i].Name == fileName {
			fv = &rv.Files[i]
		}
	}
	if fv == nil {
		return view{}, notFound("Release " + version + " of " + name + " has no file " + fileName + ".")
	}
	path := layout.FilePath(name, version, fileName)
	p := filePage{Page: h.base(fileName, r), Project: name, Display: s.Display, ProjectHref: projectHref(name),
		Version: version, ReleaseHref: releaseHref(name, version), Yanked: rel.Yanked, File: *fv, TargetPath: path,
		RoleName: layout.ReleasesRole(name), RoleHref: metaHref(s.Shard, layout.ReleasesRole(name)),
		GetCommand:   "hallmark get " + name + "@" + version + " --file " + fileName,
		CheckCommand: "sha256sum " + fileName, CheckOutput: fv.SHA256 + "  " + fileName}
	if tf := s.Releases.Signed.Targets[path]; tf != nil {
		p.RoleSHA256 = hex.EncodeToString(tf.Hashes["sha256"])
	}
	p.Mismatch = p.RoleSHA256 != fv.SHA256
	return view{template: "file", data: p}, nil
}
