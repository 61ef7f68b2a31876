package api

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-sec/vigil/internal/store"
)

// maxFilterValue bounds one query filter value.
const maxFilterValue = 1024

// params are a request's query parameters, checked against the names a
// route accepts so that a misspelt filter is an error, not a silent no-op.
type params struct{ v url.Values }

func parseParams(r *http.Request, names ...string) (params, error) {
	v, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return params{}, invalidf("malformed query string")
	}
	for k, vals := range v {
		if !slices.Contains(names, k) {
			return params{}, invalidf("unknown query parameter %q: use %s", truncate(k, 64), strings.Join(names, ", "))
		}
		for _, val := range vals {
			if len(val) > maxFilterValue {
				return params{}, invalidf("query parameter %s is longer than %d bytes", k, maxFilterValue)
			}
		}
	}
	return params{v}, nil
}

// str returns a single-valued parameter.
func (p params) str(name string) (string, error) {
	vals := p.v[name]
	switch len(vals) {
	case 0:
		return "", nil
	case 1:
		return strings.TrimSpace(vals[0]), nil
	}
	return "", invalidf("query parameter %s given %d times: give it once", name, len(vals))
}

// list returns a parameter that may repeat and hold comma-separated values.
func (p params) list(name string) []string {
	var out []string
	for _, v := range p.v[name] {
		for _, part := range strings.Split(v, ",") {
			if part = strings.TrimSpace(part); part != "" {
				out = append(out, part)
			}
		}
	}
	return out
}

func (p params) time(name string) (time.Time, error) {
	s, err := p.str(name)
	if err != nil || s == "" {
		return time.Time{}, err
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, invalidf("query parameter %s: %q is not an RFC 3339 time such as 2024-05-01T12:00:00Z", name, truncate(s, 64))
	}
	return t, nil
}

func (p params) bool(name string) (bool, error) {
	s, err := p.str(name)
	if err != nil || s == "" {
		return false, err
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		return false, invalidf("query parameter %s: %q is not true or false", name, truncate(s, 16))
	}
	return b, nil
}

// page returns the limit and cursor parameters.
func (p params) page() (limit int, cursor string, err error) {
	s, err := p.str("limit")
	if err != nil {
		return 0, "", err
	}
	limit = store.DefaultLimit
	if s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > store.MaxLimit {
			return 0, "", invalidf("query parameter limit: %q is not a number from 1 to %d", truncate(s, 16), store.MaxLimit)
		}
		limit = n
	}
	cursor, err = p.str("cursor")
	return limit, cursor, err
}

// timeRange returns since and until, checking their order.
func (p params) timeRange() (since, until time.Time, err error) {
	if since, err = p.time("since"); err != nil {
		return
	}
	if until, err = p.time("until"); err != nil {
		return
	}
	if !since.IsZero() && !until.IsZero() && !until.After(since) {
		err = invalidf("until must be after since")
	}
	return
}
