package event

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/jsondoc"
)

func TestAppendJSON(t *testing.T) {
	var d jsondoc.Doc
	if err := d.Parse([]byte("{\n  \"eventName\": \"Invoke\",\n  \"nested\": {\"s\": \"a b\\\"c\"}\n}")); err != nil {
		t.Fatal(err)
	}
	e := Event{
		Time:      time.Date(2026, 11, 20, 10, 0, 0, 5e6, time.UTC),
		Cloud:     AWS,
		Source:    SourceCloudTrail,
		ID:        "id-1",
		Action:    "Invoke",
		Outcome:   Failure,
		ErrorCode: "AccessDenied",
		Principal: "arn:aws:iam::111122223333:user/\"quoted\"",
		Resources: []Resource{{Type: "AWS::Lambda::Function", UID: "arn:aws:lambda:us-east-1:111122223333:function:f"}, {UID: "x"}},
		Raw:       d.Root(),
	}
	out := e.AppendJSON(nil, true)
	var got map[string]any
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("AppendJSON produced invalid JSON %s: %v", out, err)
	}
	want := map[string]any{
		"time": "2026-11-20T10:00:00.005Z", "cloud": "aws", "source": "aws.cloudtrail", "id": "id-1",
		"action": "Invoke", "outcome": "failure", "error_code": "AccessDenied",
		"principal": "arn:aws:iam::111122223333:user/\"quoted\"",
		"resources": []any{
			map[string]any{"type": "AWS::Lambda::Function", "uid": "arn:aws:lambda:us-east-1:111122223333:function:f"},
			map[string]any{"uid": "x"},
		},
		"raw": map[string]any{"eventName": "Invoke", "nested": map[string]any{"s": "a b\"c"}},
	}
	gb, _ := json.Marshal(got)
	wb, _ := json.Marshal(want)
	if string(gb) != string(wb) {
		t.Errorf("AppendJSON:\n got %s\nwant %s", gb, wb)
	}
	for _, c := range out {
		if c == '\n' {
			t.Fatalf("AppendJSON output spans lines: %s", out)
		}
	}
	if noRaw := e.AppendJSON(nil, false); json.Valid(noRaw) && string(noRaw) == string(out) {
		t.Error("withRaw=false still wrote raw")
	}
}

func TestEnvelope(t *testing.T) {
	e := Event{Action: "CreateFunction20150331", Outcome: Success}
	for _, name := range EnvelopeFieldNames() {
		if EnvelopeGetter(name) == nil {
			t.Errorf("no getter for %q", name)
		}
	}
	if v, ok := e.Envelope("action"); !ok || v != "CreateFunction20150331" {
		t.Errorf("action = %q, %v", v, ok)
	}
	if v, _ := e.Envelope("outcome"); v != "success" {
		t.Errorf("outcome = %q", v)
	}
	if _, ok := e.Envelope("nope"); ok {
		t.Error("unknown envelope field reported as present")
	}
}

func TestFunctionFromARN(t *testing.T) {
	for in, want := range map[string]string{
		"arn:aws:lambda:us-east-1:111122223333:function:orders-api":      "orders-api",
		"arn:aws:lambda:us-east-1:111122223333:function:orders-api:prod": "orders-api",
		"orders-api":                       "orders-api",
		"arn:aws:iam::111122223333:role/x": "arn:aws:iam::111122223333:role/x",
	} {
		if got := FunctionFromARN(in); got != want {
			t.Errorf("FunctionFromARN(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDigestIDStable(t *testing.T) {
	a := DigestID("aws.lambda", []byte("START RequestId: 1"))
	if a != DigestID("aws.lambda", []byte("START RequestId: 1")) {
		t.Error("DigestID not stable")
	}
	if a == DigestID("aws.lambda", []byte("START RequestId: 2")) || a == DigestID("aws.lambdx", []byte("START RequestId: 1")) {
		t.Error("DigestID collides on different input")
	}
}

func TestFromJSONRoundTrip(t *testing.T) {
	var d jsondoc.Doc
	if err := d.Parse([]byte(`{"eventName":"Invoke","n":[1,{"a":"\u00e9"}]}`)); err != nil {
		t.Fatal(err)
	}
	in := Event{Time: time.Date(2026, 11, 20, 10, 0, 0, 123456789, time.UTC), Cloud: AWS, Source: SourceCloudTrail, ID: "id-1",
		Account: "1", Region: "r", Service: "s", Action: "Invoke", Outcome: Failure, ErrorCode: "E", Principal: "p",
		PrincipalType: "pt", SourceIP: "1.2.3.4", UserAgent: "ua", Function: "f",
		Resources: []Resource{{Type: "T", UID: "u1"}, {UID: "u2"}}, Raw: d.Root()}
	b := in.AppendJSON(nil, true)
	var d2 jsondoc.Doc
	if err := d2.Parse(b); err != nil {
		t.Fatal(err)
	}
	out, err := FromJSON(d2.Root())
	if err != nil {
		t.Fatal(err)
	}
	if got := out.AppendJSON(nil, true); string(got) != string(b) {
		t.Errorf("round trip:\n got %s\nwant %s", got, b)
	}
	for _, bad := range []string{`[]`, `{"id":"x"}`, `{"id":"x","source":"s","time":"yesterday"}`} {
		var d3 jsondoc.Doc
		d3.Parse([]byte(bad))
		if _, err := FromJSON(d3.Root()); err == nil {
			t.Errorf("FromJSON(%s) accepted", bad)
		}
	}
}

func TestClone(t *testing.T) {
	src := []byte(`{"eventName":"Invoke"}`)
	var d jsondoc.Doc
	d.Parse(src)
	e := &Event{ID: d.Root().Get("eventName").Str(), Resources: []Resource{{UID: "u"}}, Raw: d.Root()}
	c := e.Clone()
	copy(src, "XXXXXXXXXXXXXXXXXXXXXXX")
	if c.ID != "Invoke" || c.Raw.Get("eventName").Str() != "Invoke" || c.Resources[0].UID != "u" {
		t.Errorf("clone shares memory with the input: %+v", c)
	}
}

// TestAppendCompact checks appendCompact against encoding/json's Compact.
func TestAppendCompact(t *testing.T) {
	for _, in := range []string{
		`{}`, `[]`, `""`, `{"a": 1}`, "{\n  \"a\" : [ 1 , 2 ],\r\n\t\"b\": \"x y\" }",
		`{"q": "say \"hi \" there", "k": " "}`, `{"bs": "C:\\dir\\", "n": null}`,
		`{"bs": "\\\\\"", "x" : true}`, `"tab\tin string"`, `{"u": "\u00e9 \ud83d\ude00"}`,
		`  [ "a" ,  "b\\" ,"c" ]  `,
	} {
		var want bytes.Buffer
		if err := json.Compact(&want, []byte(in)); err != nil {
			t.Fatalf("json.Compact(%q): %v", in, err)
		}
		if got := appendCompact([]byte("prefix"), []byte(in)); string(got) != "prefix"+want.String() {
			t.Errorf("appendCompact(%q) = %q, want %q", in, got[len("prefix"):], want.String())
		}
	}
}

// FuzzAppendCompact compares appendCompact with json.Compact on valid JSON.
func FuzzAppendCompact(f *testing.F) {
	f.Add([]byte(`{"a": [1, "b \" c\\"], "d" : {}}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		if !json.Valid(in) {
			return
		}
		var want bytes.Buffer
		if err := json.Compact(&want, in); err != nil {
			t.Fatal(err)
		}
		if got := appendCompact(nil, in); !bytes.Equal(got, want.Bytes()) {
			t.Fatalf("appendCompact(%q) = %q, want %q", in, got, want.Bytes())
		}
	})
}

// TestStringFields checks that StringFields lists every string field of
// Event, so that the code that copies an event's memory with it (Clone,
// and tests that alias an event's strings) cannot miss a field added
// later.
func TestStringFields(t *testing.T) {
	var e Event
	listed := map[*string]bool{}
	for _, p := range e.StringFields() {
		if listed[p] {
			t.Errorf("a field is listed twice")
		}
		listed[p] = true
	}
	v := reflect.ValueOf(&e).Elem()
	for i := range v.NumField() {
		if f := v.Field(i); f.Kind() == reflect.String && !listed[f.Addr().Interface().(*string)] {
			t.Errorf("StringFields lacks %s", v.Type().Field(i).Name)
		}
	}
}
