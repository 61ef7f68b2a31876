package detect

import (
	"fmt"
	"strings"
	"testing"

	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/jsondoc"
)

// ctEvent builds a CloudTrail-source event from a native record.
func ctEvent(t testing.TB, record string) *event.Event {
	t.Helper()
	var d jsondoc.Doc
	if err := d.Parse([]byte(record)); err != nil {
		t.Fatalf("record %s: %v", record, err)
	}
	root := d.Root()
	return &event.Event{Cloud: event.AWS, Source: event.SourceCloudTrail, Action: root.Get("eventName").Str(), Service: root.Get("eventSource").Str(),
		Principal: root.Path("userIdentity", "arn").Str(), SourceIP: root.Get("sourceIPAddress").Str(), Raw: root}
}

func rule(detection string) string {
	return "title: t\nid: 5f0e4a8c-2b0e-4c57-9a37-3e0c1f6d2a11\nlogsource:\n  product: aws\n  service: cloudtrail\ndetection:\n" + detection
}

func matches(t *testing.T, ruleYAML string, opts Options, ev *event.Event) bool {
	t.Helper()
	set := Load([]File{{Name: "r.yml", Data: []byte(ruleYAML)}}, opts)
	for _, f := range set.Failed {
		t.Fatalf("rule failed: %v", f)
	}
	if len(set.Engine.Rules()) != 1 {
		t.Fatalf("%d active rules, %d inactive", len(set.Engine.Rules()), len(set.Inactive))
	}
	got := false
	set.Engine.Match(ev, set.Engine.NewScratch(), func(*Rule) { got = true })
	return got
}

const record = `{
	"eventName": "AddPermission20150331v2",
	"eventSource": "lambda.amazonaws.com",
	"eventTime": "2026-11-20T14:05:09Z",
	"sourceIPAddress": "203.0.113.50",
	"userAgent": "aws-cli/2.15.0 Python/3.11",
	"errorCode": null,
	"readOnly": false,
	"apiVersion": 7,
	"userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/Dev-Ops"},
	"requestParameters": {"functionName": "orders-api", "principal": "*", "action": "lambda:InvokeFunction"},
	"resources": [{"ARN": "arn:aws:lambda:us-east-1:111122223333:function:orders-api"}, {"ARN": "arn:aws:iam::111122223333:role/x"}],
	"encoded": "cG93ZXJzaGVsbCAtZW5jIGFiYw==",
	"note": "Dev–Ops used -enc here"
}`

func TestMatchSemantics(t *testing.T) {
	ev := ctEvent(t, record)
	cases := []struct {
		name, detection string
		want            bool
	}{
		{"equals is case-insensitive", "  sel:\n    eventSource: LAMBDA.amazonaws.com\n  condition: sel", true},
		{"cased equals", "  sel:\n    eventSource|cased: LAMBDA.amazonaws.com\n  condition: sel", false},
		{"startswith", "  sel:\n    eventName|startswith: addpermission\n  condition: sel", true},
		{"endswith", "  sel:\n    userIdentity.arn|endswith: /dev-ops\n  condition: sel", true},
		{"contains", "  sel:\n    userAgent|contains: CLI/2\n  condition: sel", true},
		{"wildcards", "  sel:\n    userAgent: 'aws-cli/2.1?.* Python*'\n  condition: sel", true},
		{"wildcard mismatch", "  sel:\n    userAgent: 'aws-cli/3*'\n  condition: sel", false},
		{"escaped wildcard is literal", "  sel:\n    requestParameters.principal: '\\*'\n  condition: sel", true},
		{"list is OR", "  sel:\n    eventName:\n      - CreateFunction20150331\n      - AddPermission20150331v2\n  condition: sel", true},
		{"all is AND", "  sel:\n    userAgent|contains|all:\n      - aws-cli\n      - python\n  condition: sel", true},
		{"all fails on one", "  sel:\n    userAgent|contains|all:\n      - aws-cli\n      - boto3\n  condition: sel", false},
		{"arrays element-wise", "  sel:\n    resources.ARN|contains: ':role/'\n  condition: sel", true},
		{"null matches null", "  sel:\n    errorCode: null\n  condition: sel", true},
		{"null matches absent", "  sel:\n    errorMessage: null\n  condition: sel", true},
		{"null fails on a value", "  sel:\n    eventSource: null\n  condition: sel", false},
		{"empty string", "  sel:\n    eventSource: ''\n  condition: sel", false},
		{"exists true", "  sel:\n    requestParameters.principal|exists: true\n  condition: sel", true},
		{"exists false", "  sel:\n    requestParameters.qualifier|exists: false\n  condition: sel", true},
		{"exists on null", "  sel:\n    errorCode|exists: true\n  condition: sel", true},
		{"bool", "  sel:\n    readOnly: false\n  condition: sel", true},
		{"number equals", "  sel:\n    apiVersion: 7\n  condition: sel", true},
		{"gt", "  sel:\n    apiVersion|gt: 6\n  condition: sel", true},
		{"lte false", "  sel:\n    apiVersion|lte: 6\n  condition: sel", false},
		{"neq", "  sel:\n    eventSource|neq: iam.amazonaws.com\n  condition: sel", true},
		{"neq equal", "  sel:\n    eventSource|neq: lambda.amazonaws.com\n  condition: sel", false},
		{"regex", "  sel:\n    userIdentity.arn|re: '^arn:aws:iam::\\d{12}:user/'\n  condition: sel", true},
		{"regex case-sensitive", "  sel:\n    userIdentity.arn|re: 'DEV-OPS'\n  condition: sel", false},
		{"regex i flag", "  sel:\n    userIdentity.arn|re|i: 'DEV-OPS'\n  condition: sel", true},
		{"cidr", "  sel:\n    sourceIPAddress|cidr: 203.0.113.0/24\n  condition: sel", true},
		{"cidr miss", "  sel:\n    sourceIPAddress|cidr: 10.0.0.0/8\n  condition: sel", false},
		{"base64", "  sel:\n    encoded|base64: 'powershell -enc abc'\n  condition: sel", true},
		{"base64offset contains", "  sel:\n    encoded|base64offset|contains: 'shell'\n  condition: sel", true},
		{"windash", "  sel:\n    note|windash|contains: ' /enc '\n  condition: sel", true},
		{"fieldref", "  sel:\n    requestParameters.functionName|fieldref: requestParameters.functionName\n  condition: sel", true},
		{"fieldref differs", "  sel:\n    eventSource|fieldref: requestParameters.functionName\n  condition: sel", false},
		{"fieldref contains", "  sel:\n    resources.ARN|fieldref|contains: requestParameters.functionName\n  condition: sel", true},
		{"hour", "  sel:\n    eventTime|hour: 14\n  condition: sel", true},
		{"month", "  sel:\n    eventTime|month: 10\n  condition: sel", false},
		{"keyword", "  keywords:\n    - '*InvokeFunction*'\n  condition: keywords", true},
		{"keyword miss", "  keywords:\n    - 'nothing-like-this'\n  condition: keywords", false},
		{"envelope field", "  sel:\n    vigil.source_ip|startswith: '203.0.113.'\n  condition: sel", true},
		{"envelope action", "  sel:\n    vigil.action|startswith: AddPermission\n  condition: sel", true},
		{"and not", "  sel:\n    eventSource: lambda.amazonaws.com\n  filter:\n    userIdentity.type: IAMUser\n  condition: sel and not filter", false},
		{"or", "  a:\n    eventName: X\n  b:\n    eventName|startswith: AddPermission\n  condition: a or b", true},
		{"precedence", "  a:\n    eventName: X\n  b:\n    eventSource: lambda.amazonaws.com\n  c:\n    eventName: Y\n  condition: a and b or not c", true},
		{"1 of pattern", "  sel_a:\n    eventName: X\n  sel_b:\n    eventName|startswith: AddPerm\n  condition: 1 of sel_*", true},
		{"all of them skips underscore", "  sel_a:\n    eventSource: lambda.amazonaws.com\n  sel_b:\n    eventName|startswith: AddPerm\n  _x:\n    eventName: nope\n  condition: all of them", true},
		{"all of pattern fails", "  sel_a:\n    eventName: X\n  sel_b:\n    eventName|startswith: AddPerm\n  condition: all of sel_*", false},
		{"list of maps is OR", "  sel:\n    - eventName: X\n    - eventSource: lambda.amazonaws.com\n      userIdentity.type: IAMUser\n  condition: sel", true},
		{"two conditions", "  a:\n    eventName: X\n  b:\n    eventSource: lambda.amazonaws.com\n  condition:\n    - a\n    - b", true},
		{"expand", "  sel:\n    userIdentity.arn|expand: '%admins%'\n  condition: sel", true},
	}
	opts := Options{Placeholders: map[string][]string{"admins": {"arn:aws:iam::111122223333:user/root", "arn:aws:iam::111122223333:user/dev-ops"}}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := matches(t, rule(c.detection), opts, ev); got != c.want {
				t.Errorf("match = %v, want %v\n%s", got, c.want, c.detection)
			}
		})
	}
}

func TestIndexFindsRulesByAction(t *testing.T) {
	var files []File
	for i := 0; i < 50; i++ {
		files = append(files, File{Name: fmt.Sprintf("r%02d.yml", i), Data: []byte(strings.Replace(rule(fmt.Sprintf(
			"  sel:\n    eventName: Action%d\n  condition: sel", i)), "5f0e4a8c-2b0e-4c57-9a37-3e0c1f6d2a11", fmt.Sprintf("5f0e4a8c-2b0e-4c57-9a37-3e0c1f6d2a%02d", i), 1))})
	}
	files = append(files,
		File{Name: "prefix.yml", Data: []byte(strings.Replace(rule("  sel:\n    eventName|startswith: action1\n  condition: sel"), "2a11", "ffff", 1))},
		File{Name: "free.yml", Data: []byte(strings.Replace(rule("  sel:\n    userAgent|contains: cli\n  condition: sel"), "2a11", "eeee", 1))},
	)
	set := Load(files, Options{})
	if len(set.Failed) > 0 {
		t.Fatal(set.Failed)
	}
	ix := set.Engine.indexes[event.SourceCloudTrail]
	if len(ix.action.exact) != 50 || len(ix.always) != 1 || len(ix.action.prefixes) != 1 {
		t.Fatalf("index: %d exact, %d prefixes, %d always", len(ix.action.exact), len(ix.action.prefixes), len(ix.always))
	}
	ev := ctEvent(t, `{"eventName":"ACTION12","userAgent":"aws-cli"}`)
	var got []string
	set.Engine.Match(ev, set.Engine.NewScratch(), func(r *Rule) { got = append(got, r.File) })
	want := []string{"r12.yml", "prefix.yml", "free.yml"} // exact, then prefix, then unindexed
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("matched %v, want %v", got, want)
	}
	ev = ctEvent(t, `{"eventName":"Action7","userAgent":"console"}`)
	got = nil
	set.Engine.Match(ev, set.Engine.NewScratch(), func(r *Rule) { got = append(got, r.File) })
	if strings.Join(got, ",") != "r07.yml" {
		t.Errorf("matched %v, want r07.yml", got)
	}
}

func TestLoadReportsProblems(t *testing.T) {
	files := []File{
		{Name: "bad.yml", Data: []byte("title: x\nlogsource: {product: aws, service: cloudtrail}\ndetection:\n  sel:\n    a|nope: 1\n  condition: sel\n")},
		{Name: "unknown-ls.yml", Data: []byte(rule("  sel:\n    a: 1\n  condition: sel")[:0] + "title: x\nlogsource: {product: nintendo}\ndetection:\n  sel:\n    a: 1\n  condition: sel\n")},
		{Name: "okta.yml", Data: []byte("title: x\nlogsource: {product: okta, service: okta}\ndetection:\n  sel:\n    a: 1\n  condition: sel\n")},
		{Name: "env.yml", Data: []byte(rule("  sel:\n    vigil.nope: 1\n  condition: sel"))},
		{Name: "expand.yml", Data: []byte(strings.Replace(rule("  sel:\n    a|expand: '%missing%'\n  condition: sel"), "2a11", "2a12", 1))},
	}
	set := Load(files, Options{})
	var msgs []string
	for _, f := range set.Failed {
		msgs = append(msgs, f.Error())
	}
	joined := strings.Join(msgs, "\n")
	for _, want := range []string{"bad.yml:5:", "nope", "unknown-ls.yml:2:", "unknown logsource {product: nintendo}", `env.yml:8:5: unknown envelope field "vigil.nope"`, "placeholder %missing% has no values"} {
		if !strings.Contains(joined, want) {
			t.Errorf("failures do not mention %q:\n%s", want, joined)
		}
	}
	if len(set.Inactive) != 1 {
		t.Fatalf("inactive = %+v, failed = %v", set.Inactive, joined)
	}
	if !strings.Contains(set.Inactive[0].Reason, "no Vigil source produces logsource {product: okta, service: okta}") {
		t.Errorf("inactive = %+v", set.Inactive)
	}
}

func TestFilterApplies(t *testing.T) {
	r := rule("  sel:\n    eventSource: lambda.amazonaws.com\n  condition: sel")
	f := `title: ignore dev-ops
logsource: {product: aws, service: cloudtrail}
filter:
  rules:
    - 5f0e4a8c-2b0e-4c57-9a37-3e0c1f6d2a11
  selection:
    userIdentity.arn|endswith: /Dev-Ops
  condition: selection
`
	set := Load([]File{{Name: "r.yml", Data: []byte(r)}, {Name: "f.yml", Data: []byte(f)}}, Options{})
	if len(set.Failed) > 0 {
		t.Fatal(set.Failed)
	}
	count := func(rec string) int {
		n := 0
		set.Engine.Match(ctEvent(t, rec), set.Engine.NewScratch(), func(*Rule) { n++ })
		return n
	}
	if n := count(record); n != 0 {
		t.Errorf("filtered principal matched %d times", n)
	}
	if n := count(`{"eventSource":"lambda.amazonaws.com","userIdentity":{"arn":"arn:aws:iam::1:user/eve"}}`); n != 1 {
		t.Errorf("other principal matched %d times, want 1", n)
	}
}
