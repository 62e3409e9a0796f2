package proxy

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha512"
	"encoding/base64"
	"strings"
	"testing"
)

func tgz(t *testing.T, files map[string]string, order ...string) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, n := range order {
		if err := tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(files[n])), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(files[n]))
	}
	tw.Close()
	gz.Close()
	return buf.Bytes()
}

func TestInspectTarball(t *testing.T) {
	good := `{"name":"hm-demo","version":"1.0.0","dependencies":{"left-pad":"^1.0.0"},"scripts":{"x":"y"}}`
	for _, tc := range []struct {
		desc    string
		data    []byte
		name    string
		problem string
	}{
		{"npm pack layout", tgz(t, map[string]string{"package/package.json": good, "package/index.js": "1"}, "package/index.js", "package/package.json"), "hm-demo", ""},
		{"another top directory, as npm allows", tgz(t, map[string]string{"./node/package.json": good}, "./node/package.json"), "hm-demo", ""},
		{"package.json too deep", tgz(t, map[string]string{"package/lib/package.json": good}, "package/lib/package.json"), "", "has no package/package.json"},
		{"package.json at the top", tgz(t, map[string]string{"package.json": good}, "package.json"), "", "has no package/package.json"},
		{"package.json not an object", tgz(t, map[string]string{"package/package.json": "[1]"}, "package/package.json"), "", "not a JSON object"},
		{"package.json too large", tgz(t, map[string]string{"package/package.json": strings.Repeat(" ", maxPackageJSON+1)}, "package/package.json"), "", "larger than"},
		{"not gzip", []byte("plain text"), "", "not gzip-compressed"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			info := inspectTarball(tc.data)
			sum := sha512.Sum512(tc.data)
			if info.Integrity != "sha512-"+base64.StdEncoding.EncodeToString(sum[:]) || len(info.Shasum) != 40 {
				t.Errorf("integrity %q shasum %q not computed from the bytes", info.Integrity, info.Shasum)
			}
			if info.Name != tc.name || (tc.problem == "") != (info.Problem == "") || !strings.Contains(info.Problem, tc.problem) {
				t.Fatalf("name %q problem %q; want name %q problem containing %q", info.Name, info.Problem, tc.name, tc.problem)
			}
			if tc.problem == "" {
				if _, ok := info.Manifest["dependencies"]; !ok {
					t.Error("dependencies were not kept for npm to resolve")
				}
				if _, ok := info.Manifest["scripts"]; ok {
					t.Error("scripts were copied into the package document")
				}
			}
		})
	}
}
