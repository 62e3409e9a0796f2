//go:build !linux

package server

import (
	"os"
	"time"
)

// fileID tells whether a name still holds the bytes the server read: its
// size and modification time.
type fileID struct {
	size int64
	mod  time.Time
}

// statID returns the identity of the file at name.
func statID(name string) (fileID, error) {
	st, err := os.Stat(name)
	if err != nil {
		return fileID{}, err
	}
	return fileID{st.Size(), st.ModTime()}, nil
}

// openedID returns the identity of an open file.
func openedID(info os.FileInfo) (fileID, bool) { return fileID{info.Size(), info.ModTime()}, true }
