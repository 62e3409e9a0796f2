package server

import (
	"io"
	"net"
	"net/http"
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
	tc := tcpConnOf(c)
	if tc == nil {
		return false
	}
	// A raw descriptor, not an *os.File: os.OpenFile registers a file
	// opened with O_NONBLOCK with the network poller (an epoll_ctl that
	// fails for a regular file) and sets a finalizer, per request.
	// O_NONBLOCK: opening a FIFO planted below blobs/ must not block the
	// lane; only regular files are answered.
	fd, err := openNonBlocking(s.local.localName(path))
	if err != nil {
		return false
	}
	defer syscall.Close(fd)
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil || st.Mode&syscall.S_IFMT != syscall.S_IFREG || st.Size <= maxCachedFile {
		return false
	}
	done, ok := s.laneAdmit(client)
	if !ok {
		return false
	}
	defer done()

	size := st.Size
	bp := laneOut.Get().(*[]byte)
	out := appendFileHead((*bp)[:0], path, size, time.Unix(st.Mtim.Unix()), httpDate(now))
	err = sendHeadAndFile(tc, out, fd, size, req.head)
	*bp = out
	laneOut.Put(bp)
	s.metrics.observe(laneRoute(path), http.StatusOK, now)
	if err != nil {
		// The answer is cut short: closing is all that is left, as
		// net/http does (the handover then fails on the closed connection).
		c.Close()
	}
	return true
}

// openNonBlocking opens a file for reading, never blocking (on a FIFO).
func openNonBlocking(name string) (int, error) {
	for {
		fd, err := syscall.Open(name, syscall.O_RDONLY|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
		if err != syscall.EINTR {
			return fd, err
		}
	}
}

// sendHeadAndFile writes head, then (unless headOnly) size bytes of the
// file fd from its start, with sendfile, through the connection's own
// poller (its deadlines apply). The head is sent with MSG_MORE, so it
// leaves with the file's first bytes in full segments rather than alone in
// a small one (what nginx's tcp_nopush does with TCP_CORK, at two
// setsockopt calls a request).
func sendHeadAndFile(tc *net.TCPConn, head []byte, fd int, size int64, headOnly bool) error {
	rc, err := tc.SyscallConn()
	if err != nil {
		return err
	}
	flags := syscall.MSG_MORE
	if headOnly {
		flags = 0
	}
	var werr error
	if err := rc.Write(func(s uintptr) bool {
		for len(head) > 0 {
			n, err := syscall.SendmsgN(int(s), head, nil, nil, flags)
			switch {
			case err == syscall.EAGAIN:
				return false // wait until the socket is writable
			case err == syscall.EINTR:
				continue
			case err != nil:
				werr = err
				return true
			}
			head = head[n:]
		}
		return true
	}); err != nil {
		return err
	}
	if werr != nil || headOnly {
		return werr
	}
	var off int64
	if err := rc.Write(func(s uintptr) bool {
		for off < size {
			n, err := syscall.Sendfile(int(s), fd, &off, int(min(size-off, 1<<30)))
			switch {
			case err == syscall.EAGAIN:
				return false
			case err == syscall.EINTR:
				continue
			case err != nil:
				werr = err
				return true
			case n == 0:
				werr = io.ErrUnexpectedEOF // the file shrank under us
				return true
			}
		}
		return true
	}); err != nil {
		return err
	}
	return werr
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
