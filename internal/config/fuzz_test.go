package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// fuzzSecret stands in for every secret file while fuzzing, so that the
// fuzzer never reads the machine's files.
const fuzzSecret = "fuzz-secret-0123456789-abcdef"

func fuzzReadSecret(path string) (Secret, error) {
	if path == "" {
		return "", errors.New("the file name is empty")
	}
	return fuzzSecret, nil
}

// FuzzParse checks that Parse never panics, that every failure is Errors
// with positions in the file and no secret in it, and that every success
// prints (Redacted) to a file that parses back to the same configuration.
func FuzzParse(f *testing.F) {
	for _, dir := range []string{"testdata/good", "testdata/bad"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := parse("fuzz.yaml", data, fuzzReadSecret)
		if err != nil {
			var errs Errors
			if !errors.As(err, &errs) || len(errs) == 0 {
				t.Fatalf("error is not a non-empty Errors: %#v", err)
			}
			// YAML also breaks lines at a lone \r, NEL, LS and PS.
			lines := 1
			for _, brk := range []string{"\n", "\r", "\u0085", "\u2028", "\u2029"} {
				lines += strings.Count(string(data), brk)
			}
			for _, e := range errs {
				if e.File != "fuzz.yaml" || e.Env != "" || e.Line < 0 || e.Line > lines || e.Col < 0 {
					t.Errorf("problem not placed in the file: %#v", e)
				}
				if e.Msg == "" {
					t.Errorf("problem without a message: %#v", e)
				}
			}
			if strings.Contains(err.Error(), fuzzSecret) {
				t.Fatalf("an error leaks the secret:\n%v", err)
			}
			return
		}
		printed := cfg.Redacted()
		if strings.Contains(printed, fuzzSecret) {
			t.Fatalf("Redacted leaks a secret read from a file:\n%s", printed)
		}
		if !strings.Contains(cfg.Bus.URL, "@") { // a masked URL cannot parse back the same
			again, err := decodeOnly("printed.yaml", []byte(printed))
			if err != nil {
				t.Fatalf("the printed config does not parse: %v\n%s", err, printed)
			}
			if diff := cmp.Diff(cfg, again, secretsSet); diff != "" {
				t.Fatalf("the printed config parses differently (-want +got):\n%s", diff)
			}
		}
		// Whatever the secrets hold, none prints.
		if n := setSecrets(reflect.ValueOf(cfg), "LEAK-MARKER"); n > 0 {
			if out := cfg.Redacted(); strings.Contains(out, "LEAK-MARKER") {
				t.Fatalf("Redacted leaks a secret:\n%s", out)
			}
		}
	})
}

// setSecrets sets every non-empty secret in v to val and counts them.
func setSecrets(v reflect.Value, val string) int {
	n := 0
	switch {
	case v.Type() == reflect.TypeFor[Secret]():
		if v.String() != "" && v.CanSet() {
			v.SetString(val)
			n++
		}
	case v.Kind() == reflect.Pointer && !v.IsNil():
		n += setSecrets(v.Elem(), val)
	case v.Kind() == reflect.Slice:
		for i := range v.Len() {
			n += setSecrets(v.Index(i), val)
		}
	case v.Kind() == reflect.Map:
		for _, k := range v.MapKeys() {
			e := reflect.New(v.Type().Elem()).Elem()
			e.Set(v.MapIndex(k))
			if c := setSecrets(e, val); c > 0 {
				v.SetMapIndex(k, e)
				n += c
			}
		}
	case v.Kind() == reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				n += setSecrets(v.Field(i), val)
			}
		}
	}
	return n
}
