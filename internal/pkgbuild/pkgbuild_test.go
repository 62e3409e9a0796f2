package pkgbuild_test

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"strings"
	"testing"

	"hallmark.dev/hallmark/internal/pkgbuild"
	"hallmark.dev/hallmark/layout"
)

// The files built here are what the packaging specifications call them,
// and a wheel's RECORD hashes what it holds, as pip checks on install.
func TestBuiltPackages(t *testing.T) {
	wheel, data, err := pkgbuild.Wheel("hm-demo", "1.0.0", "py3-none-any", []byte("VERSION = '1.0.0'\n"), map[string][]byte{"data.bin": {1, 2, 3}})
	if err != nil {
		t.Fatal(err)
	}
	sdist, _, err := pkgbuild.Sdist("hm-demo", "1.0.0", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		file string
		kind layout.DistKind
	}{{wheel, layout.Wheel}, {sdist, layout.Sdist}} {
		if kind, version := layout.DistOf("hm-demo", tc.file); kind != tc.kind || version != "1.0.0" {
			t.Errorf("DistOf(%s) = %v %s; want %v 1.0.0", tc.file, kind, version, tc.kind)
		}
	}
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	contents := map[string][]byte{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		contents[f.Name], _ = io.ReadAll(rc)
		rc.Close()
	}
	record := string(contents["hm_demo-1.0.0.dist-info/RECORD"])
	for name, body := range contents {
		if strings.HasSuffix(name, "/RECORD") {
			continue
		}
		sum := sha256.Sum256(body)
		if !strings.Contains(record, name+",sha256="+base64.RawURLEncoding.EncodeToString(sum[:])+",") {
			t.Errorf("RECORD does not hash %s:\n%s", name, record)
		}
	}
	if _, ok := contents["hm_demo/data.bin"]; !ok {
		t.Error("the extra file is not in the module")
	}
}
