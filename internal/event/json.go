package event

import (
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
// event always fits on one line.
func appendCompact(dst, src []byte) []byte {
	inString := false
	for i := 0; i < len(src); i++ {
		c := src[i]
		if inString {
			dst = append(dst, c)
			switch c {
			case '\\':
				i++
				dst = append(dst, src[i])
			case '"':
				inString = false
			}
			continue
		}
		switch c {
		case ' ', '\t', '\n', '\r':
		case '"':
			inString = true
			dst = append(dst, c)
		default:
			dst = append(dst, c)
		}
	}
	return dst
}
