package decode

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Input is one named stream of log data.
type Input struct {
	Name string // the path, or "-" for standard input
	Open func() (io.ReadCloser, error)
}

// Inputs expands paths into inputs: a file is itself, a directory is every
// regular file below it in lexical order (names starting with "." and
// Markdown files, such as a README beside the logs, are skipped), and "-"
// is stdin. A path that does not exist is an error.
func Inputs(paths []string, stdin io.Reader) ([]Input, error) {
	var out []Input
	for _, p := range paths {
		if p == "-" {
			out = append(out, Input{Name: "-", Open: func() (io.ReadCloser, error) { return io.NopCloser(stdin), nil }})
			continue
		}
		info, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("input %s: %w", p, unwrapPathError(err))
		}
		if !info.IsDir() {
			out = append(out, fileInput(p))
			continue
		}
		var files []string
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if path != p && strings.HasPrefix(d.Name(), ".") {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if d.Type().IsRegular() && !strings.EqualFold(filepath.Ext(path), ".md") {
				files = append(files, path)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("input %s: %w", p, unwrapPathError(err))
		}
		sort.Strings(files)
		for _, f := range files {
			out = append(out, fileInput(f))
		}
	}
	return out, nil
}

func fileInput(path string) Input {
	return Input{Name: path, Open: func() (io.ReadCloser, error) { return os.Open(path) }}
}

// unwrapPathError drops the operation and path from a *fs.PathError when the
// caller already names the path.
func unwrapPathError(err error) error {
	if pe, ok := err.(*fs.PathError); ok {
		return pe.Err
	}
	return err
}
