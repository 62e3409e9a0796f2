package layout

import (
	"fmt"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Limits of a project's self-description, in bytes.
const (
	MaxDescription = 512
	MaxReadme      = 256 << 10
	MaxURL         = 2048
	MaxLicense     = 128
)

// ProjectMeta is what a project says about itself, as PyPI and npm show it:
// a one-line description, a README, links and a licence. It is part of the
// project index, so the project's maintainers sign it like the releases;
// the server never asserts it.
type ProjectMeta struct {
	Description string `json:"description,omitempty"`
	// Readme is shown as plain text (Markdown source is fine).
	Readme     string `json:"readme,omitempty"`
	Homepage   string `json:"homepage,omitempty"`
	Repository string `json:"repository,omitempty"`
	// License is an SPDX expression, like "MIT" or "Apache-2.0 OR MIT".
	License string `json:"license,omitempty"`
}

// IsZero reports whether the project says nothing about itself.
func (m ProjectMeta) IsZero() bool { return m == ProjectMeta{} }

// Check returns an error naming the field that is not acceptable and why.
func (m ProjectMeta) Check() error {
	for _, f := range []struct {
		name, v string
		max     int
		oneLine bool
	}{
		{"description", m.Description, MaxDescription, true},
		{"readme", m.Readme, MaxReadme, false},
		{"license", m.License, MaxLicense, true},
	} {
		if len(f.v) > f.max {
			return fmt.Errorf("the %s is %d bytes; the limit is %d", f.name, len(f.v), f.max)
		}
		if !utf8.ValidString(f.v) {
			return fmt.Errorf("the %s is not valid UTF-8", f.name)
		}
		for _, r := range f.v {
			if (f.oneLine || (r != '\n' && r != '\t' && r != '\r')) && unicode.IsControl(r) {
				return fmt.Errorf("the %s contains a control character (%U)%s", f.name, r, map[bool]string{true: "; it must be one line", false: ""}[f.oneLine])
			}
		}
	}
	for _, f := range []struct{ name, v string }{{"homepage", m.Homepage}, {"repository", m.Repository}} {
		if f.v == "" {
			continue
		}
		u, err := url.Parse(f.v)
		if len(f.v) > MaxURL || err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || strings.ContainsAny(f.v, " \t\n\"<>") {
			return fmt.Errorf("the %s %q must be an http:// or https:// URL of at most %d bytes", f.name, f.v, MaxURL)
		}
	}
	return nil
}

// UploadTime is how a release's upload time is written in the index:
// RFC 3339 in UTC, to the second.
func UploadTime(t time.Time) string { return t.UTC().Truncate(time.Second).Format(time.RFC3339) }

// checkUploadTime accepts only UploadTime's form.
func checkUploadTime(s string) error {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil || UploadTime(t) != s {
		return fmt.Errorf("upload time %q is not RFC 3339 in UTC to the second (like 2026-12-03T10:35:00Z)", s)
	}
	return nil
}
