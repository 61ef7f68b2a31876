// Package redact removes secrets from text and errors before they reach a
// log line, an error message or the outbox: the values of tokens, keys and
// passwords, and the URLs that carry credentials, in their raw form and in
// the encoded forms a server may echo back (URL, JSON, HTML and base64).
//
// A Redactor is immutable and safe for concurrent use.
package redact

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"html"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/vigil-sec/vigil/internal/secret"
)

// Marker replaces every secret.
const Marker = secret.Redacted

// minPartLen is the shortest URL path segment or query value that is
// treated as a secret on its own: shorter ones are words such as "api" or
// "v2", and the whole path and query are redacted anyway.
const minPartLen = 8

// Redactor replaces known secrets in text. The zero value and nil redact
// nothing but still shorten the URLs of *url.Error.
type Redactor struct {
	values   []secret.Secret
	replacer replacer
}

// replacer hides the *strings.Replacer, whose tables hold the secrets,
// behind a type that prints nothing.
type replacer struct{ r *strings.Replacer }

func (replacer) String() string   { return Marker }
func (replacer) GoString() string { return Marker }

// New returns a Redactor for the given secrets. Empty secrets are ignored.
func New(secrets ...secret.Secret) *Redactor {
	return (&Redactor{}).With(secrets...)
}

// With returns a copy of r that also redacts the given secrets.
func (r *Redactor) With(secrets ...secret.Secret) *Redactor {
	var vals []secret.Secret
	if r != nil {
		vals = slices.Clone(r.values)
	}
	for _, s := range secrets {
		vals = append(vals, forms(s.Reveal())...)
	}
	return build(vals)
}

// WithURL returns a copy of r that also redacts the URL u and the parts of
// it that may carry a credential: the password of its user information,
// its path, its query, and every path segment and query value of at least
// eight characters. The scheme and host stay readable.
func (r *Redactor) WithURL(u secret.Secret) *Redactor {
	raw := u.Reveal()
	parts := []secret.Secret{u}
	if p, err := url.Parse(raw); err == nil {
		if p.User != nil {
			parts = append(parts, secret.Secret(p.User.String()))
			if pw, ok := p.User.Password(); ok {
				parts = append(parts, secret.Secret(pw),
					secret.Secret(base64.StdEncoding.EncodeToString([]byte(p.User.Username()+":"+pw))))
			}
		}
		if len(p.EscapedPath()) > 1 {
			parts = append(parts, secret.Secret(p.EscapedPath()), secret.Secret(p.Path))
		}
		for seg := range strings.SplitSeq(p.Path, "/") {
			if len(seg) >= minPartLen {
				parts = append(parts, secret.Secret(seg))
			}
		}
		if p.RawQuery != "" {
			parts = append(parts, secret.Secret(p.RawQuery))
			for _, vs := range p.Query() {
				for _, v := range vs {
					if len(v) >= minPartLen {
						parts = append(parts, secret.Secret(v))
					}
				}
			}
		}
		if p.Fragment != "" {
			parts = append(parts, secret.Secret(p.Fragment))
		}
	}
	return r.With(parts...)
}

// forms returns v and the encodings of it that a server may echo.
func forms(v string) []secret.Secret {
	if v == "" {
		return nil
	}
	out := []secret.Secret{secret.Secret(v)}
	add := func(s string) {
		if s != v && s != "" {
			out = append(out, secret.Secret(s))
		}
	}
	add(url.QueryEscape(v))
	add(url.PathEscape(v))
	if b, err := json.Marshal(v); err == nil {
		j := string(b[1 : len(b)-1])
		add(j)
		add(strings.ReplaceAll(j, "/", `\/`))
	}
	add(html.EscapeString(v))
	add(strconv.Quote(v)[1 : len(strconv.Quote(v))-1])
	add(base64.StdEncoding.EncodeToString([]byte(v)))
	return out
}

func build(vals []secret.Secret) *Redactor {
	slices.SortFunc(vals, func(a, b secret.Secret) int {
		if d := len(b) - len(a); d != 0 {
			return d // longest first, so that a secret's longer form wins
		}
		return strings.Compare(a.Reveal(), b.Reveal())
	})
	vals = slices.Compact(vals)
	r := &Redactor{values: vals}
	if len(vals) > 0 {
		pairs := make([]string, 0, 2*len(vals))
		for _, v := range vals {
			pairs = append(pairs, v.Reveal(), Marker)
		}
		r.replacer = replacer{strings.NewReplacer(pairs...)}
	}
	return r
}

// Redact returns s with every known secret replaced by Marker.
func (r *Redactor) Redact(s string) string {
	if r == nil || r.replacer.r == nil {
		return s
	}
	return r.replacer.r.Replace(s)
}

// Error returns an error whose text is err's with every *url.Error's URL
// cut to its scheme and host and every known secret replaced. The result
// does not unwrap to err, whose text still holds the secrets, but
// errors.Is still matches sentinel errors in err's chain (such as
// context.DeadlineExceeded). Classify err before redacting it if you need
// errors.As.
func (r *Redactor) Error(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	for _, u := range urlErrors(err, nil, 0) {
		msg = strings.ReplaceAll(msg, strconv.Quote(u), strconv.Quote(ShortURL(u)))
		msg = strings.ReplaceAll(msg, u, ShortURL(u))
	}
	return &redacted{msg: r.Redact(msg), orig: err}
}

// urlErrors collects the URLs of the *url.Errors in err's tree.
func urlErrors(err error, acc []string, depth int) []string {
	if err == nil || depth > 32 {
		return acc
	}
	if ue, ok := err.(*url.Error); ok && ue.URL != "" {
		acc = append(acc, ue.URL)
	}
	switch e := err.(type) {
	case interface{ Unwrap() error }:
		acc = urlErrors(e.Unwrap(), acc, depth+1)
	case interface{ Unwrap() []error }:
		for _, c := range e.Unwrap() {
			acc = urlErrors(c, acc, depth+1)
		}
	}
	return acc
}

// ShortURL returns the scheme and host of raw ("https://hooks.example.com"),
// without user information, path, query or fragment, or "<url>" when raw
// does not parse.
func ShortURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "<url>"
	}
	return u.Scheme + "://" + u.Host
}

type redacted struct {
	msg  string
	orig error
}

func (e *redacted) Error() string { return e.msg }

// Is reports whether target is in the original error's chain, so that
// errors.Is(err, context.DeadlineExceeded) still works.
func (e *redacted) Is(target error) bool { return errors.Is(e.orig, target) }

// GoString prints the error's redacted text for %#v, which would
// otherwise show the original error's fields.
func (e *redacted) GoString() string { return strconv.Quote(e.msg) }

// String describes r without its secrets: fmt cannot reach the methods
// of the secret.Secret values in r's unexported fields, so r prints
// itself.
func (r *Redactor) String() string {
	if r == nil {
		return "redact.Redactor(nil)"
	}
	return "redact.Redactor{" + strconv.Itoa(len(r.values)) + " values}"
}

// GoString is String, for %#v.
func (r *Redactor) GoString() string { return r.String() }
