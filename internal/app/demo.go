package app

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-sec/vigil/examples"
	"github.com/vigil-sec/vigil/internal/source"
)

// The example attack happened on this day; the demo moves it to today.
var demoDay = time.Date(2024, 6, 3, 0, 0, 0, 0, time.UTC)

var epochMillis = regexp.MustCompile(`\b17174\d{8}\b`)

// demoPayload returns an example file with its dates moved to today, so
// that retention keeps the events and the alerts are recent.
func demoPayload(data []byte, today time.Time) ([]byte, error) {
	data, err := source.Gunzip(data)
	if err != nil {
		return nil, err
	}
	shift := today.Truncate(24 * time.Hour).Sub(demoDay)
	s := strings.NewReplacer(
		demoDay.Format("2006-01-02"), today.Format("2006-01-02"),
		demoDay.Format("2006/01/02"), today.Format("2006/01/02"),
	).Replace(string(data))
	s = epochMillis.ReplaceAllStringFunc(s, func(m string) string {
		v, _ := strconv.ParseInt(m, 10, 64)
		return strconv.FormatInt(v+shift.Milliseconds(), 10)
	})
	return []byte(s), nil
}

// FeedDemo posts the example attack to the server's own ingest endpoint
// with a token, exactly as a log shipper would.
func FeedDemo(ctx context.Context, baseURL, token string, today time.Time) (accepted int, err error) {
	err = fs.WalkDir(examples.FS, "logs", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		raw, err := fs.ReadFile(examples.FS, path)
		if err != nil {
			return err
		}
		body, err := demoPayload(raw, today)
		if err != nil {
			return fmt.Errorf("demo file %s: %w", path, err)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, baseURL+"/api/v1/ingest/auto", bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return fmt.Errorf("demo file %s: %w", path, err)
		}
		defer resp.Body.Close()
		var out struct{ Accepted, Duplicates int }
		if resp.StatusCode != http.StatusAccepted {
			return fmt.Errorf("demo file %s: ingest answered %s", path, resp.Status)
		}
		if err := decodeJSON(resp.Body, &out); err != nil {
			return err
		}
		accepted += out.Accepted + out.Duplicates
		return nil
	})
	return accepted, err
}

// DemoToken creates an ingest token for the demo feeder.
func (s *Server) DemoToken(ctx context.Context) (string, error) {
	b := &backend{s: s}
	plain, _, err := b.CreateToken(ctx, "demo-feed", "ingest", "vigil --demo", time.Hour)
	return plain, err
}
