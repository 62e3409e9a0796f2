//go:build !unix

package dirlock

import (
	"errors"
	"os"
)

var errHeld = errors.New("lock held")

// tryLock refuses: this system has no flock, and a lock that a crash could
// leave behind would need an operator to remove it by hand.
func tryLock(*os.File) error {
	return errors.New("locking a data directory needs flock(2), which this operating system lacks")
}
