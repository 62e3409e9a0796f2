package tufview_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// newFileServer serves dir over HTTP on the loopback interface.
func newFileServer(t *testing.T, dir string) string {
	t.Helper()
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	t.Cleanup(srv.Close)
	return srv.URL
}
