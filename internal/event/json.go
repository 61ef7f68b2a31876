package event

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"github.com/vigil-sec/vigil/internal/jsondoc"
)

// AppendJSON appends the event as one JSON object: the envelope fields that
// are set, in a fixed order, and the native record under "raw" when withRaw
// is true.
func (e *Event) AppendJSON(dst []byte, withRaw bool) []byte {
	dst = append(dst, '{')
	first := true
	field := func(name, value string) {
		if value == "" {
			return
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = append(dst, '"')
		dst = append(dst, name...)
		dst = append(dst, '"', ':')
		dst = jsondoc.AppendString(dst, value)
	}
	if !e.Time.IsZero() {
		dst = append(dst, `"time":"`...)
		dst = e.Time.UTC().AppendFormat(dst, time.RFC3339Nano)
		dst = append(dst, '"')
		first = false
	}
	field("cloud", e.Cloud)
	field("source", e.Source)
	field("id", e.ID)
	field("account", e.Account)
	field("region", e.Region)
	field("service", e.Service)
	field("action", e.Action)
	field("outcome", e.Outcome.String())
	field("error_code", e.ErrorCode)
	field("principal", e.Principal)
	field("principal_type", e.PrincipalType)
	field("source_ip", e.SourceIP)
	field("user_agent", e.UserAgent)
	field("function", e.Function)
	if len(e.Resources) > 0 {
		dst = append(dst, `,"resources":[`...)
		for i, r := range e.Resources {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, '{')
			if r.Type != "" {
				dst = append(dst, `"type":`...)
				dst = jsondoc.AppendString(dst, r.Type)
				dst = append(dst, ',')
			}
			dst = append(dst, `"uid":`...)
			dst = jsondoc.AppendString(dst, r.UID)
			dst = append(dst, '}')
		}
		dst = append(dst, ']')
	}
	if withRaw && e.Raw.Exists() {
		dst = append(dst, `,"raw":`...)
		dst = appendCompact(dst, e.Raw.Raw())
	}
	return append(dst, '}')
}

// appendCompact appends JSON text without insignificant white space, so an
// event always fits on one line. It copies runs, not bytes: strings are
// skipped to their closing quote with bytes.IndexByte, and only white space
// between tokens is dropped.
func appendCompact(dst, src []byte) []byte {
	start := 0
	for i := 0; i < len(src); i++ {
		switch src[i] {
		case '"':
			i = stringEnd(src, i+1)
		case ' ', '\t', '\n', '\r':
			dst = append(dst, src[start:i]...)
			start = i + 1
		}
	}
	return append(dst, src[start:]...)
}

// stringEnd returns the index of the quote that closes the string whose
// contents start at i, or len(src)-1 when it is not closed.
func stringEnd(src []byte, i int) int {
	for {
		q := bytes.IndexByte(src[i:], '"')
		if q < 0 {
			return len(src) - 1
		}
		i += q
		// The quote is escaped when an odd number of backslashes precede it.
		n := 0
		for k := i - 1; k >= 0 && src[k] == '\\'; k-- {
			n++
		}
		if n%2 == 0 {
			return i
		}
		i++
	}
}

// FromJSON rebuilds an event from the object AppendJSON wrote. The event's
// strings and raw record point into v's document.
func FromJSON(v jsondoc.Value) (*Event, error) {
	if v.Kind() != jsondoc.Object {
		return nil, fmt.Errorf("event is a JSON %s, not an object", v.Kind())
	}
	e := &Event{}
	var err error
	v.Members(func(k string, x jsondoc.Value) bool {
		switch k {
		case "time":
			if e.Time, err = time.Parse(time.RFC3339Nano, x.Str()); err != nil {
				err = fmt.Errorf("event time %q: %w", x.Str(), err)
				return false
			}
		case "outcome":
			switch x.Str() {
			case "success":
				e.Outcome = Success
			case "failure":
				e.Outcome = Failure
			}
		case "resources":
			x.Elements(func(_ int, r jsondoc.Value) bool {
				e.Resources = append(e.Resources, Resource{Type: r.Get("type").Str(), UID: r.Get("uid").Str()})
				return true
			})
		case "raw":
			e.Raw = x
		default:
			if p := e.stringField(k); p != nil {
				*p = x.Str()
			}
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	if e.ID == "" || e.Source == "" {
		return nil, errors.New(`event has no "id" or "source"`)
	}
	return e, nil
}

// stringField returns the envelope string field with a JSON name.
func (e *Event) stringField(name string) *string {
	switch name {
	case "cloud":
		return &e.Cloud
	case "source":
		return &e.Source
	case "id":
		return &e.ID
	case "account":
		return &e.Account
	case "region":
		return &e.Region
	case "service":
		return &e.Service
	case "action":
		return &e.Action
	case "error_code":
		return &e.ErrorCode
	case "principal":
		return &e.Principal
	case "principal_type":
		return &e.PrincipalType
	case "source_ip":
		return &e.SourceIP
	case "user_agent":
		return &e.UserAgent
	case "function":
		return &e.Function
	}
	return nil
}
