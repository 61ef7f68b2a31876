package api

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/vigil-sec/vigil/internal/source"
)

// inflightFactor is how much memory an ingest request may need per byte of
// its body while it is read, gunzipped, parsed and published: the body,
// the parsed document and its events, the bus messages (about the body's
// size again) and the client's copy of them on their way to the bus. The
// pipeline allocates about 7.6 bytes per byte of a CloudTrail body in all
// (BenchmarkIngestAllocs), not all of it live at once.
const inflightFactor = 8

// admit reserves memory for an ingest request before its body is read, so
// that concurrent requests cannot exhaust memory: over the in-flight limit
// the request is refused with 503 and Retry-After. The caller releases the
// reservation when it is done with the body.
func (s *server) admit(c *call) (release func(), err error) {
	size := s.maxBody
	if c.r.ContentLength > 0 && c.r.ContentLength < size {
		size = c.r.ContentLength
	}
	cost := size * inflightFactor
	if n := s.inflight.Add(cost); n > s.maxInflight && n != cost {
		s.inflight.Add(-cost)
		return nil, fmt.Errorf("%w: more than %d MiB of ingest requests are in progress; retry shortly", ErrBusy, s.maxInflight>>20)
	}
	return func() { s.inflight.Add(-cost) }, nil
}

// readIngestBody reads an ingest request body, bounded by MaxBodyBytes, and
// gunzips it — when Content-Encoding says gzip, or when the body starts
// with the gzip magic bytes as files copied from S3 do — bounded by
// MaxBodyBytes again. It first reserves memory with admit; the caller calls
// release when it is done with the body.
func (s *server) readIngestBody(c *call) (body []byte, release func(), err error) {
	if c.r.ContentLength > s.maxBody {
		return nil, nil, errorf(http.StatusRequestEntityTooLarge, codeTooLarge, "request body of %d bytes is larger than the %d byte limit", c.r.ContentLength, s.maxBody)
	}
	if release, err = s.admit(c); err != nil {
		return nil, nil, err
	}
	if body, err = s.readAdmitted(c); err != nil {
		release()
		return nil, nil, err
	}
	return body, release, nil
}

func (s *server) readAdmitted(c *call) ([]byte, error) {
	r := c.r
	gz := false
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip", "x-gzip":
		gz = true
	default:
		return nil, errorf(http.StatusUnsupportedMediaType, codeUnsupportedEncoding, "Content-Encoding %q is not supported: send the body plain or gzip", truncate(enc, 32))
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.w, r.Body, s.maxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, errorf(http.StatusRequestEntityTooLarge, codeTooLarge, "request body larger than the %d byte limit", s.maxBody)
		}
		return nil, invalidf("reading the request body: %v", err)
	}
	if gz && !source.IsGzip(body) {
		return nil, errorf(http.StatusBadRequest, codeBadGzip, "Content-Encoding is gzip but the body is not gzip data")
	}
	if source.IsGzip(body) {
		if body, err = gunzip(body, s.maxBody); err != nil {
			return nil, err
		}
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, invalidf("the request body is empty")
	}
	return body, nil
}

// gunzip decompresses gzip data (all members), reading at most max bytes.
func gunzip(b []byte, max int64) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, errorf(http.StatusBadRequest, codeBadGzip, "invalid gzip data: %v", err)
	}
	out, err := io.ReadAll(io.LimitReader(zr, max+1))
	if err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, errorf(http.StatusBadRequest, codeBadGzip, "truncated gzip data")
		}
		return nil, errorf(http.StatusBadRequest, codeBadGzip, "invalid gzip data: %v", err)
	}
	if int64(len(out)) > max {
		return nil, errorf(http.StatusRequestEntityTooLarge, codeTooLarge, "decompressed request body larger than the %d byte limit", max)
	}
	return out, nil
}

// decodeJSON decodes a non-ingest request body into v strictly: at most
// MaxJSONBody bytes, nested at most MaxJSONDepth deep, one value, and no
// field v does not have.
func decodeJSON(c *call, v any) error {
	b, err := io.ReadAll(http.MaxBytesReader(c.w, c.r.Body, MaxJSONBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return errorf(http.StatusRequestEntityTooLarge, codeTooLarge, "request body larger than %d bytes", MaxJSONBody)
		}
		return invalidf("reading the request body: %v", err)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return invalidf("the request body is empty: send a JSON object")
	}
	if err := checkDepth(b, MaxJSONDepth); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return invalidf("invalid JSON body: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	if _, err := dec.Token(); err != io.EOF {
		return invalidf("invalid JSON body: data after the JSON object")
	}
	return nil
}

// checkDepth rejects JSON nested deeper than max, before a decoder
// recurses into it.
func checkDepth(b []byte, max int) error {
	depth := 0
	inString, escaped := false, false
	for _, c := range b {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			depth++
			if depth > max {
				return invalidf("JSON body nested deeper than %d levels", max)
			}
		case c == '}' || c == ']':
			depth--
		}
	}
	return nil
}

// truncate shortens s to at most n bytes for a message.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}

// strictObject decodes one JSON object into v, refusing unknown fields; it
// serves custom UnmarshalJSON methods, whose nested decoding would
// otherwise not be strict.
func strictObject(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%s", strings.TrimPrefix(err.Error(), "json: "))
	}
	return nil
}
