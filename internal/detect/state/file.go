package state

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Pending is a checkpoint written to a temporary file next to its path,
// not yet in place. Commit puts it in place; Abort discards it. Until
// Commit returns, the file at path is the previous checkpoint, whatever
// happens to the process.
type Pending struct {
	f    *os.File
	path string
	dir  string
	done bool
}

// Prepare writes a checkpoint, as Write does, to a new temporary file in
// path's directory, with mode 0600, and returns it neither synced nor in
// place. It is the first half of WriteFile: body runs during Prepare, while
// whatever it encodes must hold still (typically under a lock), and Commit
// then does the slow, durable part outside of it. On error nothing is left
// behind.
func Prepare(path, magic string, version uint64, body func(*Encoder) error) (_ *Pending, err error) {
	if len(magic) != MagicLen {
		return nil, fmt.Errorf("writing checkpoint %s: magic %q must be %d bytes", path, magic, MagicLen)
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, base+tempInfix+"*")
	if err != nil {
		return nil, fmt.Errorf("writing checkpoint %s: %w", path, err)
	}
	p := &Pending{f: f, path: path, dir: dir}
	defer func() {
		if err != nil {
			p.Abort()
		}
	}()
	if err = f.Chmod(0o600); err != nil {
		return nil, fmt.Errorf("writing checkpoint %s: %w", path, err)
	}
	if err = Write(f, magic, version, body); err != nil {
		return nil, fmt.Errorf("writing checkpoint %s: %w", path, err)
	}
	return p, nil
}

var errDone = errors.New("the checkpoint was already committed or aborted")

// tempInfix follows a checkpoint's file name in the names of its
// temporary files.
const tempInfix = ".tmp-"

// Commit syncs the temporary file, renames it over the checkpoint's path
// and syncs the directory. On an error before the rename, the temporary
// file is removed and the previous checkpoint stays; once the rename is
// done, the new checkpoint is in place even if Commit returns an error
// (from syncing the directory). A Pending is committed at most once, and
// not after Abort.
func (p *Pending) Commit() error {
	if p.done {
		return fmt.Errorf("writing checkpoint %s: %w", p.path, errDone)
	}
	if err := p.f.Sync(); err != nil {
		p.Abort()
		return fmt.Errorf("writing checkpoint %s: sync: %w", p.path, err)
	}
	p.done = true
	tmp := p.f.Name()
	if err := p.f.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing checkpoint %s: %w", p.path, err)
	}
	if err := os.Rename(tmp, p.path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing checkpoint %s: %w", p.path, err)
	}
	return syncDir(p.dir)
}

// Abort removes the temporary file, leaving the previous checkpoint in
// place. It does nothing after Commit or Abort, so that it can be
// deferred.
func (p *Pending) Abort() {
	if p.done {
		return
	}
	p.done = true
	p.f.Close()
	os.Remove(p.f.Name())
}

// WriteFile writes a checkpoint to path crash-safely, with mode 0600: it is
// Prepare followed by Commit.
func WriteFile(path, magic string, version uint64, body func(*Encoder) error) error {
	p, err := Prepare(path, magic, version, body)
	if err != nil {
		return err
	}
	return p.Commit()
}

// RemoveTemp removes the temporary files that writes to path left behind
// when the process stopped between Prepare and Commit or Abort, and returns
// how many it removed. Call it only while nothing writes to path, such as
// at start.
func RemoveTemp(path string) (int, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return 0, nil
		}
		return 0, fmt.Errorf("listing the temporary files of checkpoint %s: %w", path, err)
	}
	n := 0
	var errs []error
	for _, e := range entries {
		if !e.Type().IsRegular() || !strings.HasPrefix(e.Name(), base+tempInfix) {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
			continue
		}
		n++
	}
	if err := errors.Join(errs...); err != nil {
		return n, fmt.Errorf("removing the temporary files of checkpoint %s: %w", path, err)
	}
	return n, nil
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("syncing directory %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return fmt.Errorf("syncing directory %s: %w", dir, err)
	}
	return nil
}

// ReadFile reads a checkpoint file with Read. A missing file gives an error
// for which errors.Is(err, fs.ErrNotExist) holds.
func ReadFile(path, magic string, maxVersion uint64, lim Limits, body func(d *Decoder, version uint64) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	lim = lim.withDefaults()
	if info, err := f.Stat(); err == nil && info.Size() > lim.MaxBytes {
		return fmt.Errorf("checkpoint %s: %w: %d bytes, more than the limit of %d", path, ErrCorrupt, info.Size(), lim.MaxBytes)
	}
	if err := Read(f, magic, maxVersion, lim, body); err != nil {
		return fmt.Errorf("checkpoint %s: %w", path, err)
	}
	return nil
}
