package azure

import (
	"errors"
	"fmt"
	"strings"

	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/jsondoc"
	"github.com/vigil-sec/vigil/internal/source"
)

const serviceWeb = "Microsoft.Web"

// appCommon fills what FunctionAppLogs and AppServiceHTTPLogs records share:
// time, subscription, region and the resource. It returns the site name
// from the resource ID, which the caller lowercases into e.Function.
func (d *decoder) appCommon(v jsondoc.Value, e *event.Event, res []event.Resource, src string) (site string, err error) {
	tv := v.Get("time")
	if !tv.Exists() {
		tv = v.Get("EventTime")
	}
	t, err := source.TimeField(tv, "time")
	if err != nil {
		return "", err
	}
	e.Time = t
	e.Source = src
	e.ID = event.DigestID(src, v.Raw())
	ridStr := str(v.Get("resourceId"))
	rid := parseResourceID(ridStr)
	e.Account = d.c.sub.lower(rid.sub)
	if loc := str(v.Get("location")); loc != "" {
		e.Region = d.c.region.region(loc)
	}
	e.Service = serviceWeb
	if ridStr != "" {
		res[0] = event.Resource{Type: rid.typ, UID: ridStr}
		e.Resources = res
	}
	return rid.site, nil
}

// functionLog decodes a FunctionAppLogs record: a line the Functions host
// or the function's code logged.
func (d *decoder) functionLog(v jsondoc.Value, e *event.Event, res []event.Resource) error {
	site, err := d.appCommon(v, e, res, event.SourceAzureFunctions)
	if err != nil {
		return err
	}
	p := v.Get("properties")
	if p.Kind() != jsondoc.Object {
		return fmt.Errorf(`"properties" is %s, want an object`, source.AKind(p.Kind()))
	}
	if app := firstString(str(p.Get("appName")), site); app != "" {
		e.Function = d.c.site.lower(app)
	}
	msg := str(p.Get("message"))
	excType := str(p.Get("exceptionType"))
	switch {
	case strings.Contains(msg, "Timeout value of ") && strings.Contains(msg, "exceeded"):
		e.Action = event.ActionFunctionTimeout
		e.Outcome = event.Failure
	case strings.Contains(excType, "OutOfMemoryException") || strings.Contains(msg, "System.OutOfMemoryException"):
		e.Action = event.ActionFunctionOOM
		e.Outcome = event.Failure
		e.ErrorCode = excType
	case strings.HasPrefix(msg, "Executed "):
		e.Action = event.ActionFunctionEnd
		switch {
		case strings.Contains(msg, "(Succeeded"):
			e.Outcome = event.Success
		case strings.Contains(msg, "(Failed"):
			e.Outcome = event.Failure
			e.ErrorCode = excType
		}
	case strings.HasPrefix(msg, "Executing "):
		e.Action = event.ActionFunctionStart
	case isErrorLevel(str(p.Get("level"))) || isErrorLevel(str(v.Get("level"))) ||
		levelID(p) >= 4 || p.Get("exceptionDetails").Kind() == jsondoc.String || excType != "":
		e.Action = event.ActionFunctionError
		e.Outcome = event.Failure
		e.ErrorCode = excType
	default:
		e.Action = event.ActionFunctionLog
	}
	return nil
}

func isErrorLevel(s string) bool {
	return strings.EqualFold(s, "Error") || strings.EqualFold(s, "Critical")
}

// levelID returns properties.levelId (4 is Error, 5 Critical), or -1.
func levelID(p jsondoc.Value) int64 {
	if n, ok := p.Get("levelId").Int(); ok {
		return n
	}
	return -1
}

var errNoMethod = errors.New(`missing "properties.CsMethod"`)

// httpLog decodes an AppServiceHTTPLogs record: one HTTP request served by
// the site.
func (d *decoder) httpLog(v jsondoc.Value, e *event.Event, res []event.Resource) error {
	site, err := d.appCommon(v, e, res, event.SourceAzureHTTP)
	if err != nil {
		return err
	}
	if site != "" {
		e.Function = d.c.site.lower(site)
	}
	p := v.Get("properties")
	if p.Kind() == jsondoc.String {
		// Newer exports write the properties as a JSON string.
		doc, err := source.ParseJSON([]byte(p.Str()))
		if err != nil {
			return fmt.Errorf(`"properties" string is not JSON: %w`, err)
		}
		p = doc.Root()
	}
	if p.Kind() != jsondoc.Object {
		return fmt.Errorf(`"properties" is %s, want an object`, source.AKind(p.Kind()))
	}
	e.Action = str(p.Get("CsMethod"))
	if e.Action == "" {
		return errNoMethod
	}
	e.SourceIP = cleanIP(str(p.Get("CIp")))
	e.UserAgent = str(p.Get("UserAgent"))
	if u := str(p.Get("CsUsername")); u != "-" {
		e.Principal = u
	}
	status := p.Get("ScStatus")
	if code, ok := status.Int(); ok {
		e.Outcome = httpOutcome(code)
		if e.Outcome == event.Failure {
			e.ErrorCode = status.Str()
		}
	} else {
		e.Outcome = outcomeOf(str(p.Get("Result")))
	}
	return nil
}
