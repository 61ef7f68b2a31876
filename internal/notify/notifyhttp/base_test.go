package notifyhttp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// embedding is a receiver that embeds Base next to a secret.
type embedding struct {
	Base
	token string
}

func TestBase(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&buf, nil))
	sender := &Sender{}
	r := &embedding{Base: NewBase(`ops "eu"`, "slack", logger, sender), token: "xoxb-SECRET"}
	if r.Sender != sender {
		t.Error("the Base does not keep the sender")
	}
	want := `slack receiver "ops \"eu\""`
	for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
		if got := fmt.Sprintf(format, r); got != want {
			t.Errorf("%s: got %s, want %s", format, got, want)
		}
	}
	r.Logger.Info("sent", "notification", "n1")
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatalf("log %q: %v", buf.String(), err)
	}
	for k, v := range map[string]string{"component": "notify", "receiver": `ops "eu"`, "kind": "slack", "notification": "n1"} {
		if rec[k] != v {
			t.Errorf("log attribute %s = %v, want %q", k, rec[k], v)
		}
	}
}

func TestConfigError(t *testing.T) {
	cause := errors.New("api_key: is required")
	tests := []struct {
		part string
		want string
	}{
		{"", `receiver "og": opsgenie: api_key: is required`},
		{"message", `receiver "og": opsgenie: message: api_key: is required`},
	}
	for _, tt := range tests {
		err := ConfigError("og", "opsgenie", tt.part, cause)
		if diff := cmp.Diff(tt.want, err.Error()); diff != "" {
			t.Errorf("part %q (-want +got):\n%s", tt.part, diff)
		}
		if !errors.Is(err, cause) {
			t.Errorf("part %q: the error does not wrap its cause", tt.part)
		}
	}
}
