package server

import (
	"bytes"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestRequestLog: writes and errors are logged with their method, path and
// status; successful downloads are not (they are most of the traffic).
func TestRequestLog(t *testing.T) {
	var buf bytes.Buffer
	s := newTestServerWith(t, func(c *Config) { c.Log = slog.New(slog.NewTextHandler(&buf, nil)) })
	tests := []struct {
		method, path string
		logged       string // "" for not logged
	}{
		{"POST", "/api/v1/projects", "method=POST path=/api/v1/projects status=415"},
		{"GET", "/metadata/0/99.root.json", "method=GET path=/metadata/0/99.root.json status=404"},
		{"GET", "/metadata/0/1.root.json", ""},
		{"GET", "/metadata/0/1.root.json", ""}, // from memory
	}
	for _, tt := range tests {
		buf.Reset()
		s.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(tt.method, tt.path, strings.NewReader("{")))
		line := buf.String()
		switch {
		case tt.logged == "" && strings.Contains(line, "msg=request"):
			t.Errorf("%s %s was logged: %s", tt.method, tt.path, line)
		case tt.logged != "" && !strings.Contains(line, tt.logged):
			t.Errorf("%s %s: log %q lacks %q", tt.method, tt.path, line, tt.logged)
		}
	}
}
