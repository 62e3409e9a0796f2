package server

import (
	"os"
	"syscall"
)

// fileID tells whether a name still holds the bytes the server read:
// the file (device and inode: a rename onto the name is another file), its
// size, and its modification and change times. The change time is set by
// the kernel on every write, rename and attribute change, and cannot be
// set back, so a file rewritten and given its old modification time (rsync
// -a, touch -r) still differs.
type fileID struct {
	dev, ino, size                 uint64
	mtime, mtimeNs, ctime, ctimeNs int64
}

func fileIDOf(st *syscall.Stat_t) fileID {
	return fileID{dev: uint64(st.Dev), ino: uint64(st.Ino), size: uint64(st.Size),
		mtime: int64(st.Mtim.Sec), mtimeNs: int64(st.Mtim.Nsec), ctime: int64(st.Ctim.Sec), ctimeNs: int64(st.Ctim.Nsec)}
}

// statID returns the identity of the file at name.
func statID(name string) (fileID, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(name, &st); err != nil {
		return fileID{}, err
	}
	return fileIDOf(&st), nil
}

// openedID returns the identity of an open file.
func openedID(info os.FileInfo) (fileID, bool) {
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return fileID{}, false
	}
	return fileIDOf(st), true
}
