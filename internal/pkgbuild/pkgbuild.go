// Package pkgbuild builds tiny Python and npm packages by hand, byte for
// byte as the packaging specifications lay them out, for the tests and
// benchmarks that drive the real pip and npm without internet access (so
// without build tools to fetch). Its output is deterministic.
package pkgbuild

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Module returns the module name of a distribution ("hm-demo" -> "hm_demo").
func Module(dist string) string { return strings.ReplaceAll(dist, "-", "_") }

// Wheel returns a pure-Python wheel of dist for the wheel tag (e.g.
// "py3-none-any") whose module is init plus the extra files (paths
// relative to the module's directory), and the wheel's file name.
func Wheel(dist, version, tag string, init []byte, extra map[string][]byte) (string, []byte, error) {
	mod := Module(dist)
	info := mod + "-" + version + ".dist-info/"
	files := map[string][]byte{
		mod + "/__init__.py": init,
		info + "METADATA":    []byte("Metadata-Version: 2.1\nName: " + dist + "\nVersion: " + version + "\nSummary: a test package\n"),
		info + "WHEEL":       []byte("Wheel-Version: 1.0\nGenerator: hallmark-pkgbuild\nRoot-Is-Purelib: true\nTag: " + tag + "\n"),
	}
	for p, b := range extra {
		files[mod+"/"+p] = b
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	var record strings.Builder
	for _, name := range sortedNames(files) {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Deflate, Modified: epoch})
		if err != nil {
			return "", nil, err
		}
		w.Write(files[name])
		sum := sha256.Sum256(files[name])
		fmt.Fprintf(&record, "%s,sha256=%s,%d\n", name, base64.RawURLEncoding.EncodeToString(sum[:]), len(files[name]))
	}
	record.WriteString(info + "RECORD,,\n")
	w, err := zw.CreateHeader(&zip.FileHeader{Name: info + "RECORD", Method: zip.Deflate, Modified: epoch})
	if err != nil {
		return "", nil, err
	}
	w.Write([]byte(record.String()))
	if err := zw.Close(); err != nil {
		return "", nil, err
	}
	return mod + "-" + version + "-" + tag + ".whl", buf.Bytes(), nil
}

// sdistBackend is an sdist's PEP 517 build backend, shipped in the sdist
// itself (backend-path), so pip builds it offline with nothing to install:
// it zips the module and PKG-INFO into a wheel.
const sdistBackend = `import base64, hashlib, os, zipfile

def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    meta = open("PKG-INFO", "rb").read()
    fields = dict(l.split(": ", 1) for l in meta.decode().splitlines() if ": " in l)
    mod, version = fields["Name"].replace("-", "_"), fields["Version"]
    info = f"{mod}-{version}.dist-info/"
    files = {
        f"{mod}/__init__.py": open(os.path.join(mod, "__init__.py"), "rb").read(),
        info + "METADATA": meta,
        info + "WHEEL": b"Wheel-Version: 1.0\nGenerator: hallmark-pkgbuild\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    name = f"{mod}-{version}-py3-none-any.whl"
    record = ""
    with zipfile.ZipFile(os.path.join(wheel_directory, name), "w") as z:
        for path, data in files.items():
            z.writestr(path, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            record += f"{path},sha256={digest},{len(data)}\n"
        z.writestr(info + "RECORD", record + info + "RECORD,,\n")
    return name
`

// Sdist returns a source distribution of dist whose module is init, with
// its own build backend, and its file name ("{module}-{version}.tar.gz").
func Sdist(dist, version string, init []byte) (string, []byte, error) {
	mod := Module(dist)
	root := mod + "-" + version + "/"
	data, err := TarGz(map[string][]byte{
		root + "PKG-INFO":           []byte("Metadata-Version: 2.1\nName: " + dist + "\nVersion: " + version + "\n"),
		root + "pyproject.toml":     []byte("[build-system]\nrequires = []\nbuild-backend = \"hm_backend\"\nbackend-path = [\".\"]\n"),
		root + "hm_backend.py":      []byte(sdistBackend),
		root + mod + "/__init__.py": init,
	})
	return mod + "-" + version + ".tar.gz", data, err
}

// NpmTarball returns an npm package tarball laid out as `npm pack` does
// (package/package.json, package/index.js) whose package.json names name and
// version and whose index.js is index.
func NpmTarball(name, version string, index []byte) ([]byte, error) {
	return TarGz(map[string][]byte{
		"package/package.json": fmt.Appendf(nil, `{"name": %q, "version": %q, "main": "index.js", "license": "MIT"}`, name, version),
		"package/index.js":     index,
	})
}

// epoch is every entry's modification time, for reproducible archives.
var epoch = time.Unix(1700000000, 0).UTC()

// TarGz returns a gzipped tar of files (path -> content), sorted by path.
func TarGz(files map[string][]byte) ([]byte, error) {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, n := range sortedNames(files) {
		if err := tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(files[n])), Typeflag: tar.TypeReg, ModTime: epoch}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(files[n]); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := gz.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func sortedNames(m map[string][]byte) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
