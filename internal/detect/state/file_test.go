package state

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// dirNames lists the files of dir.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	slices.Sort(names)
	return names
}

// readRecord reads the record of the checkpoint at path.
func readRecord(t *testing.T, path string) record {
	t.Helper()
	var got record
	if err := ReadFile(path, magic, 1, Limits{}, got.read); err != nil {
		t.Fatal(err)
	}
	return got
}

// TestPrepareCommit walks a checkpoint through the points where the
// process may stop: until Commit renames the new file, the path holds the
// old checkpoint, whole; after, the new one.
func TestPrepareCommit(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state")
	old := record{S: "old"}
	if err := WriteFile(path, magic, 1, old.write); err != nil {
		t.Fatal(err)
	}
	next := sample
	p, err := Prepare(path, magic, 1, next.write)
	if err != nil {
		t.Fatal(err)
	}
	// Prepared, not committed: a crash now leaves the old checkpoint.
	if diff := cmp.Diff(old, readRecord(t, path)); diff != "" {
		t.Errorf("after Prepare, the path holds (-old +got):\n%s", diff)
	}
	if names := dirNames(t, dir); len(names) != 2 || !strings.HasPrefix(names[1], "state"+tempInfix) {
		t.Errorf("after Prepare the directory holds %q, want the checkpoint and a temporary file", names)
	}
	if err := p.Commit(); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(next, readRecord(t, path)); diff != "" {
		t.Errorf("after Commit, the path holds (-new +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"state"}, dirNames(t, dir)); diff != "" {
		t.Errorf("after Commit the directory holds (-want +got):\n%s", diff)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", info.Mode().Perm())
	}
	p.Abort() // deferred by callers: does nothing once committed
	if diff := cmp.Diff(next, readRecord(t, path)); diff != "" {
		t.Errorf("Abort after Commit changed the checkpoint (-want +got):\n%s", diff)
	}
	if err := p.Commit(); !errors.Is(err, errDone) {
		t.Errorf("second Commit = %v, want errDone", err)
	}
}

func TestPrepareAbort(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state")
	if err := WriteFile(path, magic, 1, sample.write); err != nil {
		t.Fatal(err)
	}
	p, err := Prepare(path, magic, 1, record{S: "discarded"}.write)
	if err != nil {
		t.Fatal(err)
	}
	p.Abort()
	if diff := cmp.Diff(sample, readRecord(t, path)); diff != "" {
		t.Errorf("after Abort, the path holds (-old +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"state"}, dirNames(t, dir)); diff != "" {
		t.Errorf("after Abort the directory holds (-want +got):\n%s", diff)
	}
	if err := p.Commit(); !errors.Is(err, errDone) {
		t.Errorf("Commit after Abort = %v, want errDone", err)
	}
	if diff := cmp.Diff(sample, readRecord(t, path)); diff != "" {
		t.Errorf("Commit after Abort changed the checkpoint (-old +got):\n%s", diff)
	}
}

// TestPrepareFails checks that a body that fails half-way, having written
// part of the file, leaves the old checkpoint and no temporary file.
func TestPrepareFails(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state")
	if err := WriteFile(path, magic, 1, sample.write); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	_, err := Prepare(path, magic, 1, func(e *Encoder) error {
		w := e.Stream()
		w.Write(pattern(1 << 20)) // past every buffer: on disk
		return boom
	})
	if !errors.Is(err, boom) {
		t.Errorf("Prepare = %v, want boom", err)
	}
	if diff := cmp.Diff(sample, readRecord(t, path)); diff != "" {
		t.Errorf("after a failed Prepare, the path holds (-old +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"state"}, dirNames(t, dir)); diff != "" {
		t.Errorf("after a failed Prepare the directory holds (-want +got):\n%s", diff)
	}
	if _, err := Prepare(filepath.Join(dir, "missing", "state"), magic, 1, sample.write); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Prepare in a missing directory = %v", err)
	}
}

// TestRemoveTemp simulates processes stopped between Prepare and Commit:
// their temporary files stay until RemoveTemp, which leaves the
// checkpoint and the files of other checkpoints.
func TestRemoveTemp(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state")
	if err := WriteFile(path, magic, 1, sample.write); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, "other")
	for _, p := range []string{path, path, other} {
		pend, err := Prepare(p, magic, 1, record{S: "lost"}.write)
		if err != nil {
			t.Fatal(err)
		}
		pend.f.Close() // the process stops: the file stays
	}
	n, err := RemoveTemp(path)
	if err != nil || n != 2 {
		t.Errorf("RemoveTemp = %d, %v; want 2 files removed", n, err)
	}
	names := dirNames(t, dir)
	if len(names) != 2 || names[1] != "state" || !strings.HasPrefix(names[0], "other"+tempInfix) {
		t.Errorf("after RemoveTemp the directory holds %q, want other's temporary file and the checkpoint", names)
	}
	if diff := cmp.Diff(sample, readRecord(t, path)); diff != "" {
		t.Errorf("after RemoveTemp, the path holds (-want +got):\n%s", diff)
	}
	if n, err := RemoveTemp(filepath.Join(dir, "missing", "state")); n != 0 || err != nil {
		t.Errorf("RemoveTemp in a missing directory = %d, %v", n, err)
	}
}

// TestFileChecksum checks that a committed file whose bytes change on disk
// does not read.
func TestFileChecksum(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state")
	if err := WriteFile(path, magic, 1, sample.write); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, at := range []int{MagicLen + 1, len(data) / 2, len(data) - 5} {
		bad := slices.Clone(data)
		bad[at] ^= 0x10
		if err := os.WriteFile(path, bad, 0o600); err != nil {
			t.Fatal(err)
		}
		var got record
		if err := ReadFile(path, magic, 1, Limits{}, got.read); !errors.Is(err, ErrCorrupt) {
			t.Errorf("byte %d flipped: ReadFile = %v, want an error wrapping ErrCorrupt", at, err)
		}
	}
}
