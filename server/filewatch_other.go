//go:build !linux

package server

import "errors"

// dirWatcher is Linux-only (inotify); elsewhere every copy the server
// serves from memory is checked with a stat on every request.
type dirWatcher struct{}

func newDirWatcher(root string, changed func(path string, tree bool)) (*dirWatcher, error) {
	return nil, errors.New("watching directories is supported on Linux only")
}

func (w *dirWatcher) close()                           {}
func (w *dirWatcher) sync()                            {}
func (w *dirWatcher) watch(path string) (uint64, bool) { return 0, false }
func (w *dirWatcher) valid(epoch uint64) bool          { return false }
