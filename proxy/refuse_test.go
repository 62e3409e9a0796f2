package proxy

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"hallmark.dev/hallmark/client"
)

func TestStatusOf(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code int
		msg  string
	}{
		{&client.VerificationError{Shard: "3", Err: errors.New("x was tampered with")}, http.StatusBadGateway, "hallmark verification failed: shard 3 failed verification: x was tampered with"},
		{fmt.Errorf("%w: hm", client.ErrProjectNotFound), http.StatusNotFound, "project not found: hm"},
		{&notFoundError{"hm has no version 9"}, http.StatusNotFound, "hm has no version 9"},
		{fmt.Errorf("%w (blocked)", client.ErrBlocked), http.StatusGone, "the project is blocked"},
		{&badRequestError{"bad name"}, http.StatusBadRequest, "bad name"},
		{errors.New("connection refused"), http.StatusBadGateway, "could not read the repository: connection refused"},
	} {
		code, msg := statusOf(tc.err)
		if code != tc.code || !strings.Contains(msg, tc.msg) {
			t.Errorf("statusOf(%v) = %d %q; want %d containing %q", tc.err, code, msg, tc.code, tc.msg)
		}
	}
}

func TestReasonPhrase(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"plain words", "plain words"},
		{"two\r\nlines", "two??lines"},
		{"naïve", "na??ve"},
		{strings.Repeat("x", 500), strings.Repeat("x", 400)},
	} {
		if got := reasonPhrase(tc.in); got != tc.want {
			t.Errorf("reasonPhrase(%q) = %q; want %q", tc.in, got, tc.want)
		}
	}
}

// A refusal reaches pip as the reason phrase and npm as a JSON "error".
func TestRefuseOverHTTP(t *testing.T) {
	s := &Server{log: slog.New(slog.DiscardHandler)}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.refuse(w, r, &client.VerificationError{Shard: "0", Err: errors.New("f.tgz was tampered with")})
	}))
	defer ts.Close()
	for _, tc := range []struct{ path, ctype, body string }{
		{"/files/p/1.0.0/f.whl", "text/plain; charset=utf-8", "hallmark verification failed: shard 0 failed verification: f.tgz was tampered with; nothing was served\n"},
		{"/npm/p", "application/json", `{"error":"hallmark verification failed: shard 0 failed verification: f.tgz was tampered with; nothing was served"}`},
	} {
		resp, err := http.Get(ts.URL + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadGateway || resp.Status != "502 hallmark verification failed: shard 0 failed verification: f.tgz was tampered with; nothing was served" {
			t.Errorf("%s: status %q", tc.path, resp.Status)
		}
		if resp.Header.Get("Content-Type") != tc.ctype || string(body) != tc.body {
			t.Errorf("%s: %s %q; want %s %q", tc.path, resp.Header.Get("Content-Type"), body, tc.ctype, tc.body)
		}
	}
}
