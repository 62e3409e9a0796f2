package maintainer

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"

	"hallmark.dev/hallmark/api"
)

// APIError is an error answer from the server's write API.
type APIError struct {
	Status int
	Body   api.Error
}

func (e *APIError) Error() string {
	if e.Body.Hint != "" {
		return e.Body.Message + "\n" + e.Body.Hint
	}
	return e.Body.Message
}

// upFile is one file of a write request.
type upFile struct {
	target string // target path, the part's form name
	open   func() (io.ReadCloser, error)
	length int64
}

// Progress reports upload progress across all files of a request.
type Progress func(done, total int64)

// postChange sends a write request: the change, then the files, streamed.
func postChange(ctx context.Context, hc *http.Client, url string, change api.ChangeRequest, files []upFile, progress Progress, token ...string) (*Outcome, error) {
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	var total int64
	for _, f := range files {
		total += f.length
	}
	go func() {
		pw.CloseWithError(writeBody(mw, change, files, total, progress))
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, pr)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	// With the length known up front and "Expect: 100-continue", a server
	// that refuses the request by its size (or anything else it can tell
	// from the head) answers before a byte of the body is sent. Without
	// them it answers after reading up to its limit and closes the
	// connection while the files are still being sent, and the refusal can
	// be lost to the connection's reset.
	if n, err := bodyLength(mw.Boundary(), change, files); err == nil {
		req.ContentLength = n
		req.Header.Set("Expect", "100-continue")
	}
	if len(token) > 0 && token[0] != "" {
		req.Header.Set("Hallmark-Registration-Token", token[0])
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("failed to reach the repository: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	return decodeOutcome(resp.StatusCode, body)
}

// decodeOutcome reads a write API answer: published, pending or an error.
func decodeOutcome(status int, body []byte) (*Outcome, error) {
	switch {
	case status == http.StatusAccepted:
		var p api.PendingResponse
		if err := json.Unmarshal(body, &p); err != nil {
			return nil, fmt.Errorf("the server's answer is malformed: %w", err)
		}
		return &Outcome{Status: api.StatusPending, PendingID: p.ID, SignaturesValid: p.SignaturesValid, Threshold: p.Threshold}, nil
	case status >= 300:
		var er api.ErrorResponse
		if json.Unmarshal(body, &er) != nil || er.Error.Message == "" {
			return nil, &APIError{Status: status, Body: api.Error{Code: "http", Message: fmt.Sprintf("the server answered HTTP %d", status)}}
		}
		return nil, &APIError{Status: status, Body: er.Error}
	}
	var out api.ChangeResponse
	if err := json.Unmarshal(body, &out); err != nil {
		return nil, fmt.Errorf("the server's answer is malformed: %w", err)
	}
	return &Outcome{Status: api.StatusPublished, SignaturesValid: out.SignaturesValid, Threshold: out.Threshold, SnapshotVersion: out.SnapshotVersion, Waiting: out.Waiting}, nil
}

// bodyLength is the length of the body writeBody writes with boundary:
// the multipart framing around empty files, plus the files' lengths.
func bodyLength(boundary string, change api.ChangeRequest, files []upFile) (int64, error) {
	var c byteCounter
	mw := multipart.NewWriter(&c)
	if err := mw.SetBoundary(boundary); err != nil {
		return 0, err
	}
	empty := make([]upFile, len(files))
	var n int64
	for i, f := range files {
		empty[i] = upFile{target: f.target, open: func() (io.ReadCloser, error) { return io.NopCloser(eofReader{}), nil }}
		n += f.length
	}
	if err := writeBody(mw, change, empty, 0, nil); err != nil {
		return 0, err
	}
	return n + c.n, nil
}

type byteCounter struct{ n int64 }

func (c *byteCounter) Write(b []byte) (int, error) { c.n += int64(len(b)); return len(b), nil }

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }

func writeBody(mw *multipart.Writer, change api.ChangeRequest, files []upFile, total int64, progress Progress) error {
	w, err := mw.CreateFormField("change")
	if err != nil {
		return err
	}
	if err := json.NewEncoder(w).Encode(change); err != nil {
		return err
	}
	var done int64
	for _, f := range files {
		w, err := mw.CreateFormFile(f.target, f.target)
		if err != nil {
			return err
		}
		r, err := f.open()
		if err != nil {
			return err
		}
		cw := &countWriter{w: w, done: &done, total: total, progress: progress}
		_, err = io.Copy(cw, r)
		r.Close()
		if err != nil {
			return err
		}
	}
	return mw.Close()
}

type countWriter struct {
	w        io.Writer
	done     *int64
	total    int64
	progress Progress
}

func (c *countWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	*c.done += int64(n)
	if c.progress != nil {
		c.progress(*c.done, c.total)
	}
	return n, err
}

func openFile(path string) func() (io.ReadCloser, error) {
	return func() (io.ReadCloser, error) { return os.Open(path) }
}
