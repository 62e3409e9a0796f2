package server

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// maxWatches bounds the directories one server watches. Each watch pins a
// directory's inode in the kernel's memory and counts against the user's
// fs.inotify.max_user_watches; a file in a directory beyond the bound is
// still served from memory, checked with a stat on every request.
const maxWatches = 16384

// watchMask is what the server hears about: every way a name in a watched
// directory can come to mean other bytes (written in place, its
// attributes or times changed, renamed onto, renamed away, deleted), and
// the directory itself being moved or deleted.
const watchMask = syscall.IN_MODIFY | syscall.IN_ATTRIB | syscall.IN_CLOSE_WRITE |
	syscall.IN_MOVED_FROM | syscall.IN_MOVED_TO | syscall.IN_DELETE |
	syscall.IN_DELETE_SELF | syscall.IN_MOVE_SELF | syscall.IN_ONLYDIR

// dirWatcher tells the file cache about changes that other processes make
// below a blob directory, through the kernel's inotify: an rsync or a
// restore by the operator, an attacker, another server on the same
// directory. It watches each directory that holds a cached file and the
// directories above it, up to the blob directory itself.
type dirWatcher struct {
	root    string
	file    *os.File
	fd      int
	changed func(path string, tree bool)

	mu     sync.Mutex
	dirs   map[string]int32 // watched directory (blob path, "" the root) -> watch
	wds    map[int32]string
	closed bool          // closed, or the kernel stopped telling: watch nothing more
	epoch  atomic.Uint64 // counts removals of watches

	// readMu is held while events are read and acted on, by the watching
	// goroutine or by a request (sync), so that a request never runs
	// beside events read and not yet acted on.
	readMu sync.Mutex
	rbuf   []byte
	shut   bool // closed: the descriptor may be another file's soon
}

// newDirWatcher starts watching below root, calling changed for every
// change it hears of: a blob path, or with tree set a directory whose
// whole content may have changed ("" is everything).
func newDirWatcher(root string, changed func(path string, tree bool)) (*dirWatcher, error) {
	fd, err := syscall.InotifyInit1(syscall.IN_CLOEXEC | syscall.IN_NONBLOCK)
	if err != nil {
		return nil, os.NewSyscallError("inotify_init1", err)
	}
	w := &dirWatcher{root: root, fd: fd, changed: changed, file: os.NewFile(uintptr(fd), "inotify"),
		dirs: map[string]int32{}, wds: map[int32]string{}, rbuf: make([]byte, 64<<10)}
	rc, err := w.file.SyscallConn()
	if err != nil {
		w.file.Close()
		return nil, err
	}
	go w.run(rc)
	return w, nil
}

// close stops the watcher; every watch goes with its descriptor.
func (w *dirWatcher) close() {
	w.readMu.Lock()
	w.shut = true
	w.readMu.Unlock()
	w.mu.Lock()
	w.closed = true
	w.epoch.Add(1)
	w.mu.Unlock()
	w.file.Close()
}

// watch makes sure the directory of a blob path and those above it are
// watched. It reports whether they all are, and the epoch to check with
// valid once the file has been read: a watch removed in between (its
// directory moved away) means the copy may have missed a change.
func (w *dirWatcher) watch(path string) (epoch uint64, ok bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	epoch = w.epoch.Load()
	if w.closed {
		return epoch, false
	}
	dir := ""
	for {
		if _, ok := w.dirs[dir]; !ok {
			if len(w.dirs) >= maxWatches {
				return epoch, false
			}
			wd, err := syscall.InotifyAddWatch(w.fd, filepath.Join(w.root, filepath.FromSlash(dir)), watchMask)
			if err != nil {
				return epoch, false // ENOSPC (the user's limit), a missing directory
			}
			if other, dup := w.wds[int32(wd)]; dup && other != dir {
				return epoch, false // the same directory under two names (a symlink)
			}
			w.dirs[dir], w.wds[int32(wd)] = int32(wd), dir
		}
		next := strings.IndexByte(path[len(dir):], '/')
		if dir != "" {
			next = strings.IndexByte(path[len(dir)+1:], '/')
			if next >= 0 {
				next += len(dir) + 1
			}
		}
		if next < 0 {
			return epoch, true
		}
		dir = path[:next]
	}
}

// valid reports whether no watch was removed since epoch.
func (w *dirWatcher) valid(epoch uint64) bool { return w.epoch.Load() == epoch }

// run acts on events as the kernel queues them, until the watcher is
// closed or the kernel stops telling.
func (w *dirWatcher) run(rc syscall.RawConn) {
	var err error
	rerr := rc.Read(func(uintptr) bool {
		err = w.drain()
		return err != nil // false: wait until there is more to read
	})
	if err == nil {
		err = rerr
	}
	if err != errWatcherShut && !errors.Is(err, os.ErrClosed) {
		w.fail()
	}
}

var errWatcherShut = errors.New("the watcher is closed")

// sync acts on every event the kernel queued before it was called: a
// file changed before a request arrived is never served from the copy
// read before the change. It costs one read that finds nothing, most of
// the time.
func (w *dirWatcher) sync() {
	if err := w.drain(); err != nil && err != errWatcherShut {
		w.fail()
	}
}

// drain reads and acts on the queued events, until none is left.
func (w *dirWatcher) drain() error {
	w.readMu.Lock()
	defer w.readMu.Unlock()
	if w.shut {
		return errWatcherShut
	}
	for {
		n, err := syscall.Read(w.fd, w.rbuf)
		if n > 0 {
			w.handle(w.rbuf[:n])
		}
		switch {
		case err == syscall.EAGAIN:
			return nil
		case err == syscall.EINTR:
		case err != nil:
			return os.NewSyscallError("read inotify", err)
		case n <= 0:
			return errors.New("inotify: empty read")
		}
	}
}

// fail forgets every copy when the kernel stopped telling: from now on
// copies are checked with a stat on every request.
func (w *dirWatcher) fail() {
	w.mu.Lock()
	already := w.closed
	w.closed = true
	w.epoch.Add(1)
	w.mu.Unlock()
	if !already {
		w.changed("", true)
	}
}

// handle acts on a batch of events.
func (w *dirWatcher) handle(buf []byte) {
	for len(buf) >= syscall.SizeofInotifyEvent {
		ev := (*syscall.InotifyEvent)(unsafe.Pointer(&buf[0]))
		end := syscall.SizeofInotifyEvent + int(ev.Len)
		if end > len(buf) {
			return
		}
		name := strings.TrimRight(string(buf[syscall.SizeofInotifyEvent:end]), "\x00")
		buf = buf[end:]
		w.event(ev.Wd, ev.Mask, name)
	}
}

func (w *dirWatcher) event(wd int32, mask uint32, name string) {
	if mask&syscall.IN_Q_OVERFLOW != 0 {
		w.changed("", true) // events were lost: forget everything
		return
	}
	w.mu.Lock()
	dir, ok := w.wds[wd]
	w.mu.Unlock()
	if !ok {
		return
	}
	if mask&(syscall.IN_IGNORED|syscall.IN_DELETE_SELF|syscall.IN_MOVE_SELF) != 0 {
		w.forget(dir) // the directory itself is gone or elsewhere
		return
	}
	if name == "" || name[0] == '.' {
		return // never served: a write in progress (.tmp-*)
	}
	path := name
	if dir != "" {
		path = dir + "/" + name
	}
	w.mu.Lock()
	_, isWatchedDir := w.dirs[path]
	w.mu.Unlock()
	if isWatchedDir || mask&syscall.IN_ISDIR != 0 {
		if mask&(syscall.IN_MOVED_FROM|syscall.IN_MOVED_TO|syscall.IN_DELETE) != 0 {
			w.forget(path) // a directory replaced or removed: all below it
		}
		return
	}
	w.changed(path, false)
}

// forget stops watching dir and the directories below it (they may now
// be other directories, or none) and drops every copy below it.
func (w *dirWatcher) forget(dir string) {
	w.mu.Lock()
	for d, wd := range w.dirs {
		if d == dir || dir == "" || strings.HasPrefix(d, dir+"/") {
			if !w.closed { // once closed, the descriptor's number may be another file's
				syscall.InotifyRmWatch(w.fd, uint32(wd))
			}
			delete(w.dirs, d)
			delete(w.wds, wd)
		}
	}
	w.epoch.Add(1)
	w.mu.Unlock()
	w.changed(dir, true)
}
