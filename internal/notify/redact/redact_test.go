package redact

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/vigil-sec/vigil/internal/secret"
)

func TestRedact(t *testing.T) {
	r := New("tok/en+1=", "", "pass<word>")
	tests := []struct{ in, want string }{
		{"key tok/en+1= here", "key <secret> here"},
		{"query tok%2Fen%2B1%3D", "query <secret>"},
		{"path tok%2Fen+1=", "path <secret>"},
		{`json "tok\/en+1="`, `json "<secret>"`},
		{"html pass&lt;word&gt;", "html <secret>"},
		{`json pass\u003cword\u003e`, "json <secret>"},
		{"b64 " + base64.StdEncoding.EncodeToString([]byte("tok/en+1=")), "b64 <secret>"},
		{"nothing here", "nothing here"},
	}
	for _, tt := range tests {
		if got := r.Redact(tt.in); got != tt.want {
			t.Errorf("Redact(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	var none *Redactor
	if got := none.Redact("x"); got != "x" {
		t.Errorf("nil Redactor changed the text: %q", got)
	}
}

func TestWithURL(t *testing.T) {
	r := New().WithURL("https://user:hunter2-pw@hooks.example.com/services/T0001/B0002/SeCrEtToKeN99?api=v1&sig=SiGnAtUrE-12345#frag")
	for _, in := range []string{
		"hunter2-pw", base64.StdEncoding.EncodeToString([]byte("user:hunter2-pw")), "/services/T0001/B0002/SeCrEtToKeN99",
		"SeCrEtToKeN99", "SiGnAtUrE-12345", "api=v1&sig=SiGnAtUrE-12345", "services",
	} {
		if got := r.Redact("x " + in + " y"); got != "x <secret> y" {
			t.Errorf("Redact(%q) = %q", in, got)
		}
	}
	// Short path segments and query values stay readable, and so does the host.
	for _, in := range []string{"T0001", "v1", "hooks.example.com"} {
		if got := r.Redact(in); got != in {
			t.Errorf("Redact(%q) = %q", in, got)
		}
	}
}

func TestError(t *testing.T) {
	r := New("k3y-value")
	raw := "https://hooks.example.com/path/T0KEN-abc?x=k3y-value"
	ue := &url.Error{Op: "Post", URL: raw, Err: context.DeadlineExceeded}
	wrapped := fmt.Errorf("sending: %w", errors.Join(errors.New("first"), ue))
	got := r.Error(wrapped)
	want := "sending: first\nPost \"https://hooks.example.com\": context deadline exceeded"
	if got.Error() != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(got, context.DeadlineExceeded) {
		t.Error("errors.Is lost the sentinel")
	}
	if errors.Unwrap(got) != nil {
		t.Error("the redacted error unwraps to the original")
	}
	for _, s := range []string{fmt.Sprintf("%v", got), fmt.Sprintf("%+v", got), fmt.Sprintf("%#v", got), fmt.Sprintf("%#v", r), fmt.Sprintf("%+v", r)} {
		if strings.Contains(s, "T0KEN") || strings.Contains(s, "k3y-value") {
			t.Errorf("printed: %s", s)
		}
	}
	if r.Error(nil) != nil {
		t.Error("Error(nil) is not nil")
	}
	if got := New().Error(errors.New("boom k3y-value")).Error(); got != "boom k3y-value" {
		t.Errorf("an unknown value was changed: %q", got)
	}
}

func TestShortURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://u:p@host.example.com:8443/a/b?c=d#e": "https://host.example.com:8443",
		"http://[::1]:80/x":                           "http://[::1]:80",
		"not a url at all/x":                          "<url>",
		"%zz":                                         "<url>",
	} {
		if got := ShortURL(in); got != want {
			t.Errorf("ShortURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzRedact(f *testing.F) {
	f.Add("secret-value", "before ", " after")
	f.Add("t>x", "t>", "xx")
	f.Add("a", "aaa", "aa")
	f.Add("https://h/p?q=1", "x", "y")
	f.Fuzz(func(t *testing.T, s, before, after string) {
		if s == "" || strings.ContainsRune(s, 0) || len(s)+len(before)+len(after) > 4096 {
			return
		}
		r := New(secret.Secret(s)).WithURL(secret.Secret(s))
		out := r.Redact(before + s + after)
		// Cut the output at every marker, so that no occurrence can be
		// made of a marker's own characters.
		if strings.Contains(strings.ReplaceAll(out, Marker, "\x00"), s) {
			t.Fatalf("%q survived: %q", s, out)
		}
	})
}
