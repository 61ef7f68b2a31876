package logreceiver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/vigil-sec/vigil/internal/notify"
	"github.com/vigil-sec/vigil/internal/notify/notifytest"
	"github.com/vigil-sec/vigil/internal/notify/template"
)

var update = notifytest.Update()

// logger writes JSON records without the time, so that they can be
// compared with a golden file.
func logger(level slog.Level) (*slog.Logger, *bytes.Buffer) {
	var buf bytes.Buffer
	h := slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: level, ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
		if len(groups) == 0 && a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}})
	return slog.New(h), &buf
}

func TestRecord(t *testing.T) {
	l, buf := logger(slog.LevelDebug)
	r, err := New("log", Config{}, l)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := r.Send(t.Context(), template.Sample())
	if err != nil || ref != "" {
		t.Fatalf("Send = %q, %v", ref, err)
	}
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatalf("not one JSON record: %v\n%s", err, buf)
	}
	if rec["level"] != "WARN" || rec["msg"] != "notification" || rec["receiver"] != "log" || rec["component"] != "notify" {
		t.Errorf("record %v", rec)
	}
	notifytest.Golden(t, *update, "record.golden.json", buf.Bytes())
}

func TestLevelsAndBounds(t *testing.T) {
	for _, tt := range []struct {
		level string
		want  string
	}{{"debug", "DEBUG"}, {"info", "INFO"}, {"warn", "WARN"}, {"ERROR", "ERROR"}} {
		l, buf := logger(slog.LevelDebug)
		r, err := New("log", Config{Level: tt.level}, l)
		if err != nil {
			t.Fatal(err)
		}
		n := template.Sample()
		for i := range 30 {
			a := n.Alerts[0]
			a.ID = fmt.Sprint("x", i)
			n.Alerts = append(n.Alerts, a)
		}
		r.Send(t.Context(), n)
		var rec map[string]any
		json.Unmarshal(buf.Bytes(), &rec)
		if rec["level"] != tt.want {
			t.Errorf("level %q logged at %v", tt.level, rec["level"])
		}
		if rec["alerts_not_logged"] != float64(22) || rec["alert9"] == nil || rec["alert10"] != nil {
			t.Errorf("alerts not bounded: %v", rec["alerts_not_logged"])
		}
	}
	// A record below the logger's level is dropped by the logger, not by
	// the receiver.
	l, buf := logger(slog.LevelInfo)
	r, _ := New("log", Config{Level: "debug"}, l)
	r.Send(t.Context(), &notify.Notification{ID: "n", Status: notify.Firing})
	if buf.Len() != 0 {
		t.Errorf("debug record written at info: %s", buf)
	}
}

func TestValidate(t *testing.T) {
	for _, ok := range []string{"", "debug", "info", "warn", "warning", "error", "Info"} {
		if err := (&Config{Level: ok}).Validate(); err != nil {
			t.Errorf("level %q: %v", ok, err)
		}
	}
	err := (&Config{Level: "loud"}).Validate()
	if err == nil || err.Error() != `level: must be debug, info, warn or error, got "loud"` {
		t.Errorf("Validate = %v", err)
	}
	if _, err := New("l", Config{Level: "loud"}, slog.New(slog.DiscardHandler)); err == nil || !strings.HasPrefix(err.Error(), `receiver "l": log: level:`) {
		t.Errorf("New = %v", err)
	}
}
