//go:build !unix

package bus

// lockDir does nothing where flock(2) does not exist.
func lockDir(string) (unlock func(), err error) {
	return func() {}, nil
}
