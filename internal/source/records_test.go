package source

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/jsondoc"
)

// decodeID decodes a record {"id": "..."} and fails any other.
func decodeID(v jsondoc.Value, e *event.Event, res []event.Resource) error {
	id := v.Get("id")
	if id.Kind() != jsondoc.String {
		return errors.New("no id")
	}
	e.ID = id.Str()
	res[0] = event.Resource{Type: "t", UID: id.Str()}
	e.Resources = res
	return nil
}

func TestDecodeRecords(t *testing.T) {
	var d jsondoc.Doc
	if err := d.Parse([]byte(`{"records":[{"id":"a"},7,{"id":"b"},{}]}`)); err != nil {
		t.Fatal(err)
	}
	var c Collect
	DecodeRecords(d.Root().Get("records"), "line 2", "records", &c, decodeID)
	var ids []string
	for _, e := range c.Events {
		ids = append(ids, e.ID+"="+e.Resources[0].UID)
	}
	if diff := cmp.Diff([]string{"a=a", "b=b"}, ids); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	var errs []string
	for _, e := range c.Errors {
		errs = append(errs, e.Error())
	}
	if diff := cmp.Diff([]string{"line 2.records[1]: no id", "line 2.records[3]: no id"}, errs); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
	if len(c.Events) == 2 && cap(c.Events[0].Resources) != 1 {
		t.Errorf("an event's resources may grow into the next event's: cap %d", cap(c.Events[0].Resources))
	}

	c = Collect{}
	DecodeRecords(d.Root().Get("none"), "", "records", &c, decodeID)
	if len(c.Events)+len(c.Errors)+len(c.Notes) != 0 {
		t.Errorf("a missing list gave %+v", c)
	}
}

func TestDecodeRecord(t *testing.T) {
	var d jsondoc.Doc
	for _, tc := range []struct{ doc, where, want string }{
		{`{"id":"a"}`, "", "event a"},
		{`{"id":"a"}`, "line 4", "event a"},
		{`[]`, "", "fail no id"},
		{`[]`, "line 4", "fail line 4: no id"},
	} {
		if err := d.Parse([]byte(tc.doc)); err != nil {
			t.Fatal(err)
		}
		var c Collect
		DecodeRecord(d.Root(), tc.where, &c, decodeID)
		var got string
		switch {
		case len(c.Events) == 1 && len(c.Errors) == 0:
			got = "event " + c.Events[0].ID
		case len(c.Errors) == 1 && len(c.Events) == 0:
			got = "fail " + c.Errors[0].Error()
		}
		if got != tc.want {
			t.Errorf("DecodeRecord(%s, %q) gave %q, want %q", tc.doc, tc.where, got, tc.want)
		}
	}
}
