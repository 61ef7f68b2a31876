package api_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/vigil-sec/vigil/internal/api"
	"github.com/vigil-sec/vigil/internal/authz"
)

// TestLogsLeakNoSecret runs successful and failing requests of every route
// with tokens in headers and query strings, and checks that no token and
// no query string reaches the log, while the real cause of an internal
// error does.
func TestLogsLeakNoSecret(t *testing.T) {
	e := newEnv(t)
	const marker = "qsmarker7f3a"
	var secrets []string
	for _, role := range authz.Roles() {
		secrets = append(secrets, e.b.Token(role))
	}
	bad := "vgl_" + strings.Repeat("z", 52)
	secrets = append(secrets, bad)
	n := 0
	run := func() {
		for _, rt := range api.Routes() {
			for _, tok := range append([]string{bad}, secrets...) {
				n++
				q := samples[rt.Method+" "+rt.Pattern](n + 1000)
				q.method = rt.Method
				q.token = tok
				sep := "?"
				if strings.Contains(q.path, "?") {
					sep = "&"
				}
				q.path += sep + "token=" + tok + "&x=" + marker
				q.header = map[string]string{"X-Amz-Firehose-Access-Key": tok, "X-Request-Id": "vgl_" + strings.Repeat("q", 52)}
				e.do(t, q)
			}
		}
	}
	run()
	e.b.Err = errors.New("database exploded")
	e.b.IngestFunc = func(string, []byte) (api.IngestResult, error) {
		return api.IngestResult{}, fmt.Errorf("bus down")
	}
	run()
	// A token pasted where an ID belongs.
	e.do(t, req{method: "DELETE", path: "/api/v1/tokens/" + secrets[0], token: e.b.Token(authz.Admin)})
	e.do(t, req{method: "GET", path: "/api/v1/alerts/" + secrets[0], token: e.b.Token(authz.Admin)})

	logs := e.logs.String()
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(l, "vgl_") {
			t.Log(l[:min(len(l), 300)])
		}
	}
	for _, s := range secrets {
		if strings.Contains(logs, s) {
			t.Errorf("the log holds a token")
		}
	}
	for _, s := range []string{marker, "token=", "vgl_"} {
		if strings.Contains(logs, s) {
			t.Errorf("the log holds %q", s)
		}
	}
	if !strings.Contains(logs, "database exploded") || !strings.Contains(logs, "bus down") {
		t.Error("internal errors are not logged")
	}
	if !strings.Contains(logs, "component=api") {
		t.Error("log lines lack component=api")
	}
}
