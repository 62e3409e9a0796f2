//go:build !linux

package blobdir

import "errors"

// canSyncFS is set where one call makes a whole file system durable; here
// deferred writes are synced one by one instead.
const canSyncFS = false

type fsHandle struct{}

func openFS(*Dir) (*fsHandle, error) { return &fsHandle{}, nil }

func (*fsHandle) sync() error { return errors.New("syncfs is not available on this system") }
