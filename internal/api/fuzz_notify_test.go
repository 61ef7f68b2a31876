package api_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"unicode"

	"github.com/vigil-sec/vigil/internal/api"
	"github.com/vigil-sec/vigil/internal/api/apitest"
	"github.com/vigil-sec/vigil/internal/authz"
)

// notificationStatuses are the statuses the notification routes may answer.
var notificationStatuses = []int{200, 400, 401, 403, 404, 405, 409, 413, 502}

// FuzzNotificationRoutes sends random query strings, IDs and bodies to the
// notification routes and checks that they answer only documented statuses
// in the documented shapes, and hand the backend only sane receiver names.
func FuzzNotificationRoutes(f *testing.F) {
	f.Add(byte(0), "status=failed&limit=5", []byte{})
	f.Add(byte(1), "ntf_1", []byte{})
	f.Add(byte(2), "ntf_2", []byte{})
	f.Add(byte(3), "", []byte(`{"receiver":"sec-webhook"}`))
	f.Add(byte(3), "", []byte(`{"receiver":"oncall"}`))
	f.Add(byte(3), "", []byte(`{"receiver":"\u0000x"}`))
	f.Add(byte(0), "cursor=%zz&status=", []byte{})
	f.Fuzz(func(t *testing.T, route byte, arg string, body []byte) {
		fake := apitest.New(nil)
		h := api.New(fake, api.Options{})
		method, path := http.MethodGet, "/api/v1/notifications"
		switch route % 4 {
		case 0:
			path += "?" + arg
		case 1:
			path += "/" + arg
		case 2:
			method, path = http.MethodPost, path+"/"+arg+"/retry"
		case 3:
			method, path = http.MethodPost, path+"/test"
		}
		r, err := http.NewRequest(method, "http://vigil"+path, bytes.NewReader(body))
		if err != nil {
			return // not a request a client can send
		}
		role := authz.Responder
		if route&0x80 != 0 {
			role = authz.Viewer
		}
		r.Header.Set("Authorization", "Bearer "+fake.Token(role))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		res := w.Result()
		if res.StatusCode == http.StatusMovedPermanently || res.StatusCode == http.StatusTemporaryRedirect || res.StatusCode == http.StatusPermanentRedirect {
			// The router sends an unclean path (a//b, a/./b) to its clean
			// form before any handler runs.
			if loc := res.Header.Get("Location"); loc == "" || len(fake.Tests()) != 0 {
				t.Fatalf("%s %s: redirect to %q after %d backend calls", method, path, loc, len(fake.Tests()))
			}
			return
		}
		if !slices.Contains(notificationStatuses, res.StatusCode) {
			t.Fatalf("%s %s: undocumented status %d: %s", method, path, res.StatusCode, w.Body.Bytes())
		}
		if ct := res.Header.Get("Content-Type"); ct != "application/json" {
			t.Fatalf("%s %s: Content-Type %q", method, path, ct)
		}
		var m map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
			t.Fatalf("body is not JSON: %q", w.Body.Bytes())
		}
		if res.StatusCode >= 400 {
			if s, _ := m["error"].(string); s == "" || m["code"] == nil || len(m) != 2 {
				t.Fatalf("error answer %d: %s", res.StatusCode, w.Body.Bytes())
			}
		}
		for _, name := range fake.Tests() {
			if name == "" || name != strings.TrimSpace(name) || len(name) > 128 || strings.ContainsFunc(name, func(r rune) bool { return !unicode.IsPrint(r) }) {
				t.Fatalf("the backend was asked to test receiver %q", name)
			}
		}
		if role == authz.Viewer && method == http.MethodPost && res.StatusCode < 400 {
			t.Fatalf("a viewer's %s %s succeeded", method, path)
		}
	})
}
