package proxy

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"hallmark.dev/hallmark/client"
)

// notFoundError is a name the verified metadata does not have.
type notFoundError struct{ msg string }

func (e *notFoundError) Error() string { return e.msg }

// badRequestError is a request the proxy cannot read.
type badRequestError struct{ msg string }

func (e *badRequestError) Error() string { return e.msg }

// statusOf maps an error to its HTTP status and a message for pip's and
// npm's users: what happened and what it means.
func statusOf(err error) (int, string) {
	var nf *notFoundError
	var br *badRequestError
	var ve *client.VerificationError
	switch {
	case errors.As(err, &br):
		return http.StatusBadRequest, err.Error()
	case errors.As(err, &nf), errors.Is(err, client.ErrProjectNotFound):
		return http.StatusNotFound, err.Error()
	case errors.Is(err, client.ErrBlocked):
		return http.StatusGone, err.Error()
	case errors.As(err, &ve):
		return http.StatusBadGateway, "hallmark verification failed: " + err.Error() + "; nothing was served"
	}
	return http.StatusBadGateway, "hallmark proxy could not read the repository: " + err.Error()
}

// refuse answers a request with the error's status. The message is both the
// body and the HTTP reason phrase: pip prints the reason phrase of a failed
// download (not the body) and npm prints both it and a JSON body's "error",
// so users see why their install failed.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, err error) {
	code, msg := statusOf(err)
	s.log.Warn("refused", "path", r.URL.Path, "status", code, "err", msg)
	body := msg + "\n"
	ctype := "text/plain; charset=utf-8"
	if strings.HasPrefix(r.URL.Path, "/npm/") {
		b, _ := json.Marshal(map[string]string{"error": msg})
		body, ctype = string(b), "application/json"
	}
	if r.Method == http.MethodHead {
		body = ""
	}
	if hj, ok := w.(http.Hijacker); ok && r.ProtoMajor == 1 {
		if conn, buf, herr := hj.Hijack(); herr == nil {
			defer conn.Close()
			fmt.Fprintf(buf, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n%s",
				code, reasonPhrase(msg), ctype, len(body), body)
			buf.Flush()
			return
		}
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	fmt.Fprint(w, body)
}

// reasonPhrase makes msg a valid HTTP reason phrase: printable ASCII only
// (RFC 9112 allows tabs, spaces and visible characters), at most 400 bytes.
func reasonPhrase(msg string) string {
	b := make([]byte, 0, min(len(msg), 400))
	for i := 0; i < len(msg) && len(b) < 400; i++ {
		c := msg[i]
		if c < 0x20 || c > 0x7e {
			c = '?'
		}
		b = append(b, c)
	}
	return string(b)
}
