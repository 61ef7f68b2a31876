//go:build unix

package bus

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// lockDir takes an exclusive advisory lock on dir, so that two processes
// never run JetStream on the same files. The kernel releases the lock when
// the process dies, kill -9 included.
func lockDir(dir string) (unlock func(), err error) {
	name := filepath.Join(dir, "vigil-bus.lock")
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("bus: open lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("bus: storage directory %s is in use by another process; stop it or choose another bus.dir", dir)
		}
		return nil, fmt.Errorf("bus: lock %s: %w", name, err)
	}
	return func() { f.Close() }, nil
}
