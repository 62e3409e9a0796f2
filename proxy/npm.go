package proxy

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha1"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path"
	"strings"

	"hallmark.dev/hallmark/client"
	"hallmark.dev/hallmark/layout"
)

// Bounds on reading an npm tarball: its package.json, and everything the
// proxy decompresses looking for it.
const (
	maxPackageJSON  = 1 << 20
	maxTarballBytes = 512 << 20
)

// manifestFields are the package.json fields copied into a version of the
// package document: what npm needs to resolve and install it.
var manifestFields = []string{
	"description", "license", "main", "bin", "engines", "os", "cpu",
	"dependencies", "optionalDependencies", "peerDependencies", "peerDependenciesMeta", "bundleDependencies",
}

// tarballInfo is what the proxy learned from one verified npm tarball.
type tarballInfo struct {
	// Name and Version are package.json's.
	Name, Version string
	// Integrity (sha512, SRI form) and Shasum (sha1, hex) are computed from
	// the verified bytes.
	Integrity, Shasum string
	// Manifest holds the manifestFields package.json has.
	Manifest map[string]json.RawMessage
	// Problem says why the tarball is not an npm package, if it is not.
	Problem string
}

// inspectTarball reads a tarball's package.json ("<dir>/package.json", npm
// packs it as "package/package.json") and hashes it. A tarball that is no
// npm package gets a Problem, not an error: it is simply not listed.
func inspectTarball(data []byte) tarballInfo {
	s512 := sha512.Sum512(data)
	s1 := sha1.Sum(data)
	info := tarballInfo{Integrity: "sha512-" + base64.StdEncoding.EncodeToString(s512[:]), Shasum: hex.EncodeToString(s1[:])}
	raw, err := packageJSON(data)
	if err != nil {
		info.Problem = err.Error()
		return info
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		info.Problem = "its package.json is not a JSON object: " + err.Error()
		return info
	}
	json.Unmarshal(fields["name"], &info.Name)
	json.Unmarshal(fields["version"], &info.Version)
	info.Manifest = map[string]json.RawMessage{}
	for _, f := range manifestFields {
		if v, ok := fields[f]; ok {
			info.Manifest[f] = v
		}
	}
	return info
}

// packageJSON returns the package.json of a gzipped tarball.
func packageJSON(data []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("it is not gzip-compressed: %v", err)
	}
	tr := tar.NewReader(io.LimitReader(zr, maxTarballBytes))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil, errors.New("it has no package/package.json")
		}
		if err != nil {
			return nil, fmt.Errorf("it is not a readable tar archive: %v", err)
		}
		name := strings.TrimPrefix(h.Name, "./")
		if h.Typeflag != tar.TypeReg || path.Base(name) != "package.json" || strings.Count(name, "/") != 1 {
			continue
		}
		b, err := io.ReadAll(io.LimitReader(tr, maxPackageJSON+1))
		if err != nil {
			return nil, fmt.Errorf("its %s cannot be read: %v", name, err)
		}
		if len(b) > maxPackageJSON {
			return nil, fmt.Errorf("its %s is larger than %d bytes", name, maxPackageJSON)
		}
		return b, nil
	}
}

// tarball returns what a verified tarball holds, reading it once per hash.
func (s *Server) tarball(ctx context.Context, p *client.Project, version string, e layout.FileEntry) (tarballInfo, error) {
	s.npmMu.Lock()
	info, ok := s.npmInfo[e.SHA256]
	s.npmMu.Unlock()
	if ok {
		return info, nil
	}
	data, err := s.verifiedBytes(ctx, p, version, e)
	if err != nil {
		return tarballInfo{}, err
	}
	info = inspectTarball(data)
	s.npmMu.Lock()
	s.npmInfo[e.SHA256] = info
	s.npmMu.Unlock()
	return info, nil
}

// npmTarball picks a release's npm tarball: the first .tgz, the one named as
// `npm pack` names it first, whose verified package.json names the project
// and the release's version.
func (s *Server) npmTarball(ctx context.Context, p *client.Project, rel *layout.Release) (layout.FileEntry, tarballInfo, bool, error) {
	var candidates []layout.FileEntry
	for _, f := range rel.Files {
		if kind, _ := layout.DistOf(p.Name, f.Name); kind != layout.NpmTarball {
			continue
		}
		if f.Name == p.Name+"-"+rel.Version+".tgz" {
			candidates = append([]layout.FileEntry{f}, candidates...)
		} else {
			candidates = append(candidates, f)
		}
	}
	for _, f := range candidates {
		info, err := s.tarball(ctx, p, rel.Version, f)
		if err != nil {
			return layout.FileEntry{}, tarballInfo{}, false, err
		}
		switch {
		case info.Problem != "":
			s.log.Warn("not an npm package", "project", p.Name, "version", rel.Version, "file", f.Name, "problem", info.Problem)
		case info.Name != p.Name || info.Version != rel.Version:
			s.log.Warn("npm tarball of another package", "project", p.Name, "version", rel.Version, "file", f.Name,
				"package_name", info.Name, "package_version", info.Version)
		default:
			return f, info, true, nil
		}
	}
	return layout.FileEntry{}, tarballInfo{}, false, nil
}

// npmPackage serves a project's package document (the "packument").
func (s *Server) npmPackage(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("project")
	normal, err := layout.ParseProjectName(name)
	if err != nil {
		s.refuse(w, r, &badRequestError{fmt.Sprintf("%v (Hallmark has no npm scopes)", err)})
		return
	}
	if normal != name {
		s.refuse(w, r, &notFoundError{fmt.Sprintf("npm package %q: Hallmark names it %q; install it under that name", name, normal)})
		return
	}
	p, err := s.project(r.Context(), normal)
	if err != nil {
		s.refuse(w, r, err)
		return
	}
	doc, err := s.packument(r.Context(), baseURL(r), p)
	if err != nil {
		s.refuse(w, r, err)
		return
	}
	writeJSON(w, "application/json", doc)
}

// packument builds the package document of a verified project.
func (s *Server) packument(ctx context.Context, base string, p *client.Project) (map[string]any, error) {
	versions := map[string]any{}
	listed := &layout.Index{Project: p.Name}
	for i := range p.Index.Releases {
		rel := &p.Index.Releases[i]
		f, info, ok, err := s.npmTarball(ctx, p, rel)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		v := map[string]any{}
		for k, raw := range info.Manifest {
			v[k] = raw
		}
		v["name"], v["version"] = p.Name, rel.Version
		v["_id"] = p.Name + "@" + rel.Version
		v["dist"] = map[string]string{"tarball": fileURL(base, p.Name, rel.Version, f.Name), "integrity": info.Integrity, "shasum": info.Shasum}
		if rel.Yanked {
			v["deprecated"] = "yanked by its maintainers: " + orDefault(rel.YankedReason, "no reason given")
		}
		versions[rel.Version] = v
		listed.Releases = append(listed.Releases, *rel)
	}
	if len(versions) == 0 {
		return nil, &notFoundError{fmt.Sprintf("%s has no npm package: no release has a .tgz whose package.json names %s and the release's version", p.Name, p.Name)}
	}
	tags := map[string]string{}
	if latest, err := listed.Latest(); err == nil {
		tags["latest"] = latest.Version
	}
	return map[string]any{"_id": p.Name, "name": p.Name, "dist-tags": tags, "versions": versions}, nil
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}
