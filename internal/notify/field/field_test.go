package field

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestURL(t *testing.T) {
	tests := []struct {
		raw      string
		isSecret bool
		want     string
	}{
		{"", true, ""},
		{"https://hooks.example.com/x?y=1", true, ""},
		{"http://127.0.0.1:8080/", false, ""},
		{"hooks.example.com/TOKEN", true, "url: the URL must start with https:// (or http://)"},
		{"hooks.example.com/x", false, "url: the URL hooks.example.com/x must start with https:// (or http://)"},
		{"https://:443/TOKEN", true, "url: the URL has no host"},
		{"https://h.example.com/a TOKEN", true, "url: the URL contains white space"},
		{"https://h.example.com/%zTOKEN", true, "url: the URL does not parse; check its characters and percent-escapes"},
		{"file:///etc/passwd", false, "url: the URL file:///etc/passwd must start with https:// (or http://)"},
	}
	for _, tt := range tests {
		err := URL("url", tt.raw, tt.isSecret)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tt.want {
			t.Errorf("URL(%q) = %q, want %q", tt.raw, got, tt.want)
		}
		if tt.isSecret && strings.Contains(got, "TOKEN") {
			t.Errorf("the error quotes a secret URL: %s", got)
		}
	}
}

func TestErrors(t *testing.T) {
	var errs Errors
	if errs.Err() != nil {
		t.Error("no problems gave an error")
	}
	errs.Add(nil)
	errs.Addf("a", "is %s", "wrong")
	errs.Add(Wrap("b[1]", errors.New("bad")))
	errs.Add(Timeout("timeout", -time.Second))
	errs.Add(Timeout("ok", time.Minute))
	errs.Add(Secret("key", "", true))
	errs.Add(Secret("opt", "", false))
	errs.Add(Secret("ctl", "a\x7f", false))
	errs.Add(Template("title", "{{", false))
	errs.Add(Template("empty", "", false))
	err := errs.Err()
	want := []string{
		"a: is wrong",
		"b[1]: bad",
		"timeout: must be from 0s (the default) to 5m0s, got -1s",
		"key: is required (inline, or from a file with key_file)",
		"ctl: has a control character at byte 1",
		"title: template: title:1: unclosed action",
	}
	if diff := cmp.Diff(want, strings.Split(err.Error(), "\n")); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	// The loader reaches each problem and its field.
	var paths []string
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var fe interface{ FieldPath() string }
		if errors.As(e, &fe) {
			paths = append(paths, fe.FieldPath())
		}
	}
	if diff := cmp.Diff([]string{"a", "b[1]", "timeout", "key", "ctl", "title"}, paths); diff != "" {
		t.Errorf("paths (-want +got):\n%s", diff)
	}
	if Wrap("x", nil) != nil {
		t.Error("Wrap(nil) is not nil")
	}
}
