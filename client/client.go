// Package client is Hallmark's downloader: it learns a repository's state
// only through TUF verification (go-tuf's updater, one trusted state per
// shard) starting from the trust the user pinned, and downloads files only
// after checking them against verified metadata.
//
// Trust rule: nothing the server says is used unless it verifies against the
// pinned root keys through the TUF chain. The pinned trust also fixes the
// shard count and each shard's identity, so metadata of one shard served
// under another's URL is refused.
package client

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"hallmark.dev/hallmark/internal/atomicfile"
	"hallmark.dev/hallmark/layout"
	"hallmark.dev/hallmark/trust"
)

// Options configure a Client.
type Options struct {
	// Repo is the repository URL ("http://127.0.0.1:8080").
	Repo string
	// Home holds pinned trust and cached metadata (HALLMARK_HOME).
	Home string
	// HTTP is the HTTP client; when nil, one that gives up on a silent
	// repository after Timeout.
	HTTP *http.Client
	// Timeout bounds connecting and waiting for an answer to start (not a
	// whole download); DefaultTimeout when zero.
	Timeout time.Duration
}

// DefaultTimeout is how long the client waits to connect to the repository
// and for each answer to start.
const DefaultTimeout = 30 * time.Second

// Client reads one pinned repository.
type Client struct {
	repo  string
	dir   string
	http  *http.Client
	trust *trust.File
	// timeout bounds how long a download may go without receiving data.
	timeout time.Duration
}

// ErrNotPinned is returned by Open when the user has not pinned the repository.
var ErrNotPinned = errors.New("repository is not trusted yet")

// NormalizeRepo returns the canonical form of a repository URL.
func NormalizeRepo(repo string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(repo))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("repository URL %q must be an http:// or https:// URL, like http://127.0.0.1:8080", repo)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawQuery, u.Fragment = "", ""
	return u.String(), nil
}

// repoDir is where a repository's trust and caches live under home.
func repoDir(home, repo string) string {
	sum := sha256.Sum256([]byte(repo))
	u, _ := url.Parse(repo)
	name := strings.NewReplacer(":", "_", "/", "_").Replace(u.Host)
	return filepath.Join(home, "repos", name+"-"+hex.EncodeToString(sum[:4]))
}

func httpClient(o Options) *http.Client {
	if o.HTTP != nil {
		return o.HTTP
	}
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}).DialContext
	t.TLSHandshakeTimeout = timeout
	t.ResponseHeaderTimeout = timeout
	return &http.Client{Transport: t}
}

// FetchTrust downloads a repository's trust summary. It is not verified:
// the user must compare its fingerprint with one obtained out of band.
func FetchTrust(ctx context.Context, o Options) (*trust.File, []byte, error) {
	repo, err := NormalizeRepo(o.Repo)
	if err != nil {
		return nil, nil, err
	}
	data, err := get(ctx, httpClient(o), repo+"/"+layout.TrustFile, 1<<20, o.Timeout)
	if err != nil {
		return nil, nil, fmt.Errorf("failed to fetch the repository's trust summary: %w", err)
	}
	tf, err := trust.Parse(data)
	if err != nil {
		return nil, nil, err
	}
	return tf, data, nil
}

// Pin stores a repository's trust summary as trusted, replacing any earlier
// pin and the cached metadata that came with it.
func Pin(o Options, data []byte) error {
	repo, err := NormalizeRepo(o.Repo)
	if err != nil {
		return err
	}
	if _, err := trust.Parse(data); err != nil {
		return err
	}
	dir := repoDir(o.Home, repo)
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("failed to create %s: %w", dir, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "repo-url"), []byte(repo+"\n"), 0o600); err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(dir, "trust.json"), data, 0o600)
}

// Open returns a client for a repository the user has pinned.
func Open(o Options) (*Client, error) {
	repo, err := NormalizeRepo(o.Repo)
	if err != nil {
		return nil, err
	}
	dir := repoDir(o.Home, repo)
	data, err := os.ReadFile(filepath.Join(dir, "trust.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNotPinned, repo)
	}
	if err != nil {
		return nil, err
	}
	tf, err := trust.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("pinned trust for %s is corrupt (%v); pin it again", repo, err)
	}
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	return &Client{repo: repo, dir: dir, http: httpClient(o), trust: tf, timeout: timeout}, nil
}

// Repo returns the repository URL.
func (c *Client) Repo() string { return c.repo }

// PostJSON sends v as JSON to path (below the repository URL) with hc, and
// returns the answer's status and at most limit bytes of its body.
func (c *Client) PostJSON(ctx context.Context, hc *http.Client, path string, v any, limit int64) (int, []byte, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return 0, nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.repo+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("failed to reach the repository: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit))
	return resp.StatusCode, data, err
}

// Trust returns the pinned trust.
func (c *Client) Trust() *trust.File { return c.trust }

// get fetches a small file (metadata, at most limit bytes). A fetch that
// receives nothing for stall is abandoned as a NetworkError.
func get(ctx context.Context, hc *http.Client, u string, limit int64, stall time.Duration) ([]byte, error) {
	if stall <= 0 {
		stall = DefaultTimeout
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	timer := time.AfterFunc(stall, func() { cancel(errStalled) })
	defer timer.Stop()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if errors.Is(context.Cause(ctx), errStalled) {
		err = errStalled
	}
	if err != nil {
		return nil, &NetworkError{URL: u, Err: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, &HTTPError{URL: u, Status: resp.StatusCode}
	}
	data, err := io.ReadAll(&stallReader{r: io.LimitReader(resp.Body, limit+1), timer: timer, stall: stall})
	if errors.Is(context.Cause(ctx), errStalled) {
		err = errStalled
	}
	if err != nil {
		return nil, &NetworkError{URL: u, Err: err}
	}
	if int64(len(data)) > limit {
		return nil, &TooLargeError{URL: u, Limit: limit}
	}
	return data, nil
}

// TooLargeError is a download larger than its verified or configured limit.
type TooLargeError struct {
	URL   string
	Limit int64
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("%s is larger than %d bytes", e.URL, e.Limit)
}

// NetworkError is a failure to get an answer from the repository: the
// connection was refused or broke, it timed out, or the repository answered
// with an HTTP error status. Nothing was verified or trusted: it is an
// outage, not a sign that anything was tampered with (that is a
// VerificationError).
type NetworkError struct {
	URL string
	// Status is the HTTP status the repository answered, 0 when there was
	// no answer.
	Status int
	Err    error
}

func (e *NetworkError) Error() string {
	host := e.URL
	if u, err := url.Parse(e.URL); err == nil && u.Host != "" {
		host = u.Scheme + "://" + u.Host
	}
	var to interface{ Timeout() bool }
	switch {
	case e.Status != 0:
		return fmt.Sprintf("network error: the repository %s answered HTTP %d (%s) for %s", host, e.Status, http.StatusText(e.Status), e.URL)
	case errors.As(e.Err, &to) && to.Timeout():
		return fmt.Sprintf("network error: timed out waiting for the repository %s", host)
	}
	return fmt.Sprintf("network error: cannot reach the repository %s: %v", host, e.Err)
}

func (e *NetworkError) Unwrap() error { return e.Err }

// HTTPError is an unexpected HTTP status.
type HTTPError struct {
	URL    string
	Status int
}

func (e *HTTPError) Error() string { return fmt.Sprintf("GET %s: HTTP %d", e.URL, e.Status) }

// stallReader restarts a stall timer whenever data arrives.
type stallReader struct {
	r     io.Reader
	timer *time.Timer
	stall time.Duration
}

func (s *stallReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if n > 0 {
		s.timer.Reset(s.stall)
	}
	return n, err
}
