package e2e

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// flakyRepo is a reverse proxy in front of a real server whose behaviour
// the test switches: pass everything through, answer an HTTP error, hang
// (a repository that never answers), or corrupt the timestamp's signature
// (an attack).
type flakyRepo struct {
	mode atomic.Value // string
	srv  *httptest.Server
}

func newFlakyRepo(t testing.TB, backend string) *flakyRepo {
	t.Helper()
	target, err := url.Parse(backend)
	if err != nil {
		t.Fatal(err)
	}
	f := &flakyRepo{}
	f.mode.Store("pass")
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.ModifyResponse = func(resp *http.Response) error {
		if f.mode.Load() != "tamper" || !strings.HasSuffix(resp.Request.URL.Path, "timestamp.json") {
			return nil
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		// Flip one hex digit of the signature: the bytes still parse, the
		// signature no longer verifies.
		i := bytes.Index(body, []byte(`"sig":"`)) + len(`"sig":"`)
		if body[i] == '0' {
			body[i] = '1'
		} else {
			body[i] = '0'
		}
		resp.Body = io.NopCloser(bytes.NewReader(body))
		return nil
	}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch f.mode.Load() {
		case "503":
			http.Error(w, "upstream is down", http.StatusServiceUnavailable)
		case "stall", "stall-metadata":
			suffix := map[string]string{"stall": ".txt", "stall-metadata": "timestamp.json"}[f.mode.Load().(string)]
			if !strings.HasSuffix(r.URL.Path, suffix) {
				proxy.ServeHTTP(w, r)
				return
			}
			// A file whose body starts, then stops coming.
			w.Header().Set("Content-Length", "300")
			w.WriteHeader(http.StatusOK)
			w.Write([]byte("o"))
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
			case <-time.After(30 * time.Second):
			}
		case "hang":
			select {
			case <-r.Context().Done():
			case <-time.After(30 * time.Second):
			}
		default:
			proxy.ServeHTTP(w, r)
		}
	}))
	t.Cleanup(f.srv.Close)
	return f
}

// TestGetSaysNetworkErrorNotVerification: a repository that is down, answers
// HTTP errors or never answers is reported as a network problem, never as a
// verification failure (a false alarm teaches users to ignore real ones);
// metadata that does not verify still is reported as a verification failure.
func TestGetSaysNetworkErrorNotVerification(t *testing.T) {
	srv := StartServer(t)
	alice := NewMaintainer(t, srv, "alice")
	alice.MustRun("project", "create", "net-demo", "--key", "alice")
	alice.MustRun("release", "upload", "net-demo", "1.0.0", WriteFile(t, t.TempDir(), "net-demo-1.0.0.txt", []byte("one")), "--key", "alice")

	flaky := newFlakyRepo(t, srv.URL)
	// Bob knows the repository only through the proxy; he pins it while it
	// passes everything through.
	bob := NewUser(t, srv)
	bob.Env = append(bob.Env, "HALLMARK_REPO="+flaky.srv.URL)
	bob.MustRun("trust", flaky.srv.URL, "--yes")
	bob.MustRun("get", "net-demo", "-o", t.TempDir())

	bob.MustRun("trust", srv.URL, "--yes")

	tests := []struct {
		desc, mode string
		user       *User
		args       []string
		want       []string
	}{
		{"HTTP 503 on get", "503", bob, []string{"get", "net-demo"}, []string{"network error", "HTTP 503", "check that the repository is up"}},
		{"HTTP 503 on versions", "503", bob, []string{"versions", "net-demo"}, []string{"network error", "HTTP 503"}},
		{"no answer", "hang", bob, []string{"get", "net-demo", "--timeout", "1s"}, []string{"network error", "timed out"}},
		{"a download that stops", "stall", bob, []string{"get", "net-demo", "--timeout", "1s", "-o", "stalled"}, []string{"network error", "timed out"}},
		{"metadata that stops", "stall-metadata", bob, []string{"versions", "net-demo", "--timeout", "1s"}, []string{"network error", "timed out"}},
		{"tampered timestamp", "tamper", bob, []string{"get", "net-demo"}, []string{"failed verification"}},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			flaky.mode.Store(tt.mode)
			defer flaky.mode.Store("pass")
			r := tt.user.Run(tt.args...)
			if r.Code == 0 {
				t.Fatalf("%v succeeded; want a failure", tt.args)
			}
			for _, w := range tt.want {
				if !strings.Contains(r.Stderr, w) {
					t.Errorf("%v: stderr lacks %q:\n%s", tt.args, w, r.Stderr)
				}
			}
			if tt.mode != "tamper" && strings.Contains(r.Stderr, "verif") && !strings.Contains(r.Stderr, "nothing was verified") {
				t.Errorf("%v: a network problem is reported as a verification failure:\n%s", tt.args, r.Stderr)
			}
		})
	}

	// The server itself stopped: connections are refused.
	srv.Stop()
	r := bob.MustFail("network error: cannot reach the repository", "get", "net-demo", "--repo", srv.URL)
	if strings.Contains(r.Stderr, "failed verification") {
		t.Fatalf("a stopped server is reported as a verification failure:\n%s", r.Stderr)
	}
}
