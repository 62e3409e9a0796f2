package server

import (
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"hallmark.dev/hallmark/layout"
)

// laneSendFile answers a plain request for a published file too large to
// hold in memory, in a local blob directory, as handleStatic would
// (through sendBlob and http.ServeContent): the headers in one write, then
// the body with sendfile, straight from the file to the connection. nginx
// does the same; net/http costs more on such a file (it copies the first
// 512 bytes through a buffer before it switches to sendfile, and answers
// through its own writers).
//
// It reports false, having written nothing, when the handler must answer:
// a request with a Range or a conditional header (http.ServeContent
// honours them; the lane reproduces only its plain answer), a blocked
// project's file (410), a missing file, a directory or anything but a
// regular file, a file small enough for memory (the handler reads it into
// the file cache), a path the handler refuses, a client over its request
// limit.
//
// The file is opened on every request and nothing about it is kept
// between requests, so a file replaced, restored or removed on disk is
// served as it is on disk when the request comes: there is no copy to go
// stale.
func (s *Server) laneSendFile(c net.Conn, req laneRequest, path, client string, now time.Time) bool {
	if s.local == nil || req.hasINM || req.hasIM || req.ranged || strings.Contains(path, "..") {
		return false // handleStatic answers ".." in a name with 404
	}
	if _, _, blocked := s.blockedPath(path); blocked {
		return false
	}
	// O_NONBLOCK: opening a FIFO planted below blobs/ must not block the
	// lane; only regular files are answered.
	f, err := os.OpenFile(s.local.localName(path), os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return false
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil || !info.Mode().IsRegular() || info.Size() <= maxCachedFile {
		return false
	}
	done, ok := s.laneAdmit(client)
	if !ok {
		return false
	}
	defer done()

	size := info.Size()
	// Corked, the head and the file's first bytes leave in full segments
	// rather than the head alone in a small one first (nginx's
	// tcp_nopush); the uncork at the end sends what is left.
	tc := tcpConnOf(c)
	if tc != nil && !req.head {
		setCork(tc, true)
		defer setCork(tc, false)
	}
	bp := laneOut.Get().(*[]byte)
	out := appendFileHead((*bp)[:0], path, size, info.ModTime(), httpDate(now))
	_, err = c.Write(out)
	*bp = out
	laneOut.Put(bp)
	if err == nil && !req.head {
		// c's ReadFrom (limitedConn, then the TCP connection's) sends an
		// *os.File behind an io.LimitedReader with sendfile. The limit is
		// the announced length, as http.ServeContent's io.CopyN.
		var n int64
		n, err = io.Copy(c, io.LimitReader(f, size))
		if err == nil && n != size {
			err = io.ErrUnexpectedEOF // the file shrank under us
		}
	}
	s.metrics.observe(laneRoute(path), http.StatusOK, now)
	if err != nil {
		// The answer is cut short: closing is all that is left, as
		// net/http does (the handover then fails on the closed connection).
		c.Close()
	}
	return true
}

// appendFileHead appends the head of the answer http.ServeContent gives to
// a plain GET or HEAD of a file of size bytes modified at mod, with the
// headers sendBlob sets: net/http's order (the handler's headers sorted,
// then Date), no Last-Modified for a zero or Unix-epoch time (as
// ServeContent).
func appendFileHead(out []byte, path string, size int64, mod time.Time, date string) []byte {
	cacheControl, contentType := layout.ServedHeaders(path)
	out = append(out, "HTTP/1.1 200 OK\r\nAccept-Ranges: bytes\r\nCache-Control: "...)
	out = append(out, cacheControl...)
	out = append(out, "\r\nContent-Length: "...)
	out = strconv.AppendInt(out, size, 10)
	out = append(out, "\r\nContent-Type: "...)
	out = append(out, contentType...)
	if !mod.IsZero() && !mod.Equal(time.Unix(0, 0)) {
		out = append(out, "\r\nLast-Modified: "...)
		out = mod.UTC().AppendFormat(out, http.TimeFormat)
	}
	out = append(out, "\r\nDate: "...)
	out = append(out, date...)
	return append(out, "\r\n\r\n"...)
}

// tcpConnOf returns the TCP connection below c, or nil.
func tcpConnOf(c net.Conn) *net.TCPConn {
	for {
		switch t := c.(type) {
		case *net.TCPConn:
			return t
		case *limitedConn:
			c = t.Conn
		default:
			return nil
		}
	}
}

// setCork sets TCP_CORK on a connection; errors are ignored (the answer
// is the same, only packed differently).
func setCork(c *net.TCPConn, on bool) {
	raw, err := c.SyscallConn()
	if err != nil {
		return
	}
	v := 0
	if on {
		v = 1
	}
	raw.Control(func(fd uintptr) {
		syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_CORK, v)
	})
}
