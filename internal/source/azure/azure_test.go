package azure

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/jsondoc"
	"github.com/vigil-sec/vigil/internal/source"
	"github.com/vigil-sec/vigil/internal/source/sourcetest"
)

const (
	webID = "/subscriptions/6a1f3c2e-9b4d-4e8a-8f0b-2d7c5e9a1b34/resourceGroups/rg/providers/Microsoft.Web/sites/Orders-API"
)

func TestDecode(t *testing.T) {
	tests := []struct {
		name, input, where string
		want               []string
	}{{
		name: "activity record of a managed identity, failed",
		input: `{"time":"2024-03-05T10:16:02.1Z","resourceId":"` + webID + `","operationName":"Microsoft.Web/sites/stop/action",
			"category":"Administrative","resultType":"Failure","resultSignature":"Failed.Conflict","callerIpAddress":"2001:db8::5",
			"identity":{"claims":{"appid":"app-1","oid":"oid-1","xms_mirid":"/subscriptions/x/providers/Microsoft.ManagedIdentity/userAssignedIdentities/mi"}},
			"location":"West Europe","properties":{}}`,
		want: []string{`{"time":"2024-03-05T10:16:02.1Z","cloud":"azure","source":"azure.activity","id":"` +
			event.DigestID(event.SourceAzureActivity, []byte(`{"time":"2024-03-05T10:16:02.1Z","resourceId":"`+webID+`","operationName":"Microsoft.Web/sites/stop/action",
			"category":"Administrative","resultType":"Failure","resultSignature":"Failed.Conflict","callerIpAddress":"2001:db8::5",
			"identity":{"claims":{"appid":"app-1","oid":"oid-1","xms_mirid":"/subscriptions/x/providers/Microsoft.ManagedIdentity/userAssignedIdentities/mi"}},
			"location":"West Europe","properties":{}}`)) +
			`","account":"6a1f3c2e-9b4d-4e8a-8f0b-2d7c5e9a1b34","region":"westeurope","service":"Microsoft.Web","action":"Microsoft.Web/sites/stop/action","outcome":"failure","error_code":"Conflict","principal":"app-1","principal_type":"ManagedIdentity","source_ip":"2001:db8::5","function":"orders-api","resources":[{"type":"Microsoft.Web/sites","uid":"` + webID + `"}]}`},
	}, {
		name:  "single record with a where",
		where: "line 3",
		input: `{"time":"2024-03-05T10:16:02Z","resourceId":"/SUBSCRIPTIONS/AB/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/KV","operationName":"MICROSOFT.KEYVAULT/VAULTS/WRITE","category":"Administrative","resultType":"Accept","eventDataId":"ev-1","identity":{"claims":{"unique_name":"live.com#guest@example.com"}}}`,
		want:  []string{`{"time":"2024-03-05T10:16:02Z","cloud":"azure","source":"azure.activity","id":"ev-1","account":"ab","service":"Microsoft.KeyVault","action":"MICROSOFT.KEYVAULT/VAULTS/WRITE","outcome":"unknown","principal":"live.com#guest@example.com","principal_type":"User","resources":[{"type":"MICROSOFT.KEYVAULT/VAULTS","uid":"/SUBSCRIPTIONS/AB/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/KV"}]}`},
	}, {
		name:  "resource log with an HTTP status",
		input: `[{"time":"2024-03-05T10:00:00Z","resourceId":"/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/sa/blobServices/default","category":"StorageRead","operationName":"GetBlob","statusCode":403,"statusText":"AuthorizationFailure","callerIpAddress":"198.51.100.1:443","eventDataId":"x"}]`,
		want:  []string{`{"time":"2024-03-05T10:00:00Z","cloud":"azure","source":"azure.activity","id":"x","account":"s","service":"Microsoft.Storage","action":"GetBlob","outcome":"failure","error_code":"403","source_ip":"198.51.100.1","resources":[{"uid":"/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/sa/blobServices/default"}]}`},
	}, {
		name:  "records are failed one by one",
		where: "blob.json",
		input: `{"records":[
			{"time":"2024-03-05T10:00:00Z","resourceId":"/subscriptions/s","operationName":"Microsoft.Resources/x/write","category":"Administrative","eventDataId":"ok"},
			42,
			{"resourceId":"/subscriptions/s","operationName":"Microsoft.Resources/x/write","category":"Administrative"},
			{"time":"yesterday","resourceId":"/subscriptions/s","operationName":"x","category":"Administrative"},
			{"time":1700000000,"resourceId":"/subscriptions/s","operationName":"x","category":"Administrative"},
			{"time":"2024-03-05T10:00:00Z","resourceId":"/subscriptions/s","category":"Administrative"},
			{"time":"2024-03-05T10:00:00Z","resourceId":"/subscriptions/s","category":"AppServiceAppLogs"},
			{"time":"2024-03-05T10:00:00Z","resourceId":"/subscriptions/s","category":"FunctionAppLogs","properties":"x"},
			{"time":"2024-03-05T10:00:00Z","resourceId":"/subscriptions/s","category":"AppServiceHTTPLogs","properties":"{bad"},
			{"time":"2024-03-05T10:00:00Z","category":"SignInLogs","properties":null},
			{"eventDataId":"e","operationName":{"value":"op"},"eventTimestamp":"2024-13-01T00:00:00Z"}
		]}`,
		want: []string{
			`{"time":"2024-03-05T10:00:00Z","cloud":"azure","source":"azure.activity","id":"ok","account":"s","service":"Microsoft.Resources","action":"Microsoft.Resources/x/write","outcome":"unknown","resources":[{"uid":"/subscriptions/s"}]}`,
			`fail: blob.json.records[1]: record is not a JSON object (it is a number)`,
			`fail: blob.json.records[2]: missing "time"`,
			`fail: blob.json.records[3]: "time" is not an RFC 3339 time: "yesterday"`,
			`fail: blob.json.records[4]: "time" is a number, want a string`,
			`fail: blob.json.records[5]: missing "operationName"`,
			`fail: blob.json.records[6]: category "AppServiceAppLogs" has no mapping, and the record has no operationName and resourceId to decode it generically`,
			`fail: blob.json.records[7]: "properties" is a string, want an object`,
			`fail: blob.json.records[8]: "properties" string is not JSON: invalid JSON at byte 1: expected a string key in object`,
			`fail: blob.json.records[9]: "properties" is null, want an object`,
			`fail: blob.json.records[10]: "eventTimestamp" is not an RFC 3339 time: "2024-13-01T00:00:00Z"`,
		},
	}, {
		name:  "REST value wrapper",
		input: `{"value":[{"eventDataId":"e1","eventTimestamp":"2024-03-05T10:00:00Z","operationName":{"value":"Microsoft.Authorization/roleAssignments/write"},"caller":"carol@example.com","status":{"value":"Failed"},"subStatus":{"value":""},"properties":{"statusCode":"Forbidden"},"subscriptionId":"S1"}],"nextLink":null}`,
		want:  []string{`{"time":"2024-03-05T10:00:00Z","cloud":"azure","source":"azure.activity","id":"e1","account":"s1","service":"Microsoft.Authorization","action":"Microsoft.Authorization/roleAssignments/write","outcome":"failure","error_code":"Forbidden","principal":"carol@example.com","principal_type":"User"}`},
	}, {
		name:  "empty records",
		input: `{"records":[]}`,
	}, {
		name:  "sign-in with a code given as a string",
		input: `{"time":"2024-03-05T09:00:00Z","resourceId":"/tenants/T1/providers/Microsoft.aadiam","category":"SignInLogs","resultType":"53003","callerIpAddress":"192.0.2.1","properties":{"userPrincipalName":"dave@example.com"}}`,
		want: []string{`{"time":"2024-03-05T09:00:00Z","cloud":"azure","source":"azure.signin","id":"` +
			event.DigestID(event.SourceAzureSignIn, []byte(`{"time":"2024-03-05T09:00:00Z","resourceId":"/tenants/T1/providers/Microsoft.aadiam","category":"SignInLogs","resultType":"53003","callerIpAddress":"192.0.2.1","properties":{"userPrincipalName":"dave@example.com"}}`)) +
			`","account":"t1","service":"Microsoft.aadiam","action":"Sign-in activity","outcome":"failure","error_code":"53003","principal":"dave@example.com","principal_type":"User","source_ip":"192.0.2.1","resources":[{"uid":"/tenants/T1/providers/Microsoft.aadiam"}]}`},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := want.Decode(t, Decoder, tt.input, tt.where)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestNotFormat(t *testing.T) {
	tests := []struct{ input, reason string }{
		{`{"records":"x"}`, `"records" is a string, not an array`},
		{`{"Records":[]}`, `no "records" array`},
		{`{}`, `no "records" array`},
		{`null`, `the document is null`},
		{`17`, `the document is a number`},
		{`"records"`, `the document is a string`},
		{`[{"eventVersion":"1.08"}]`, `first element is not an Azure Monitor record`},
		{`{"value":[{"id":"x"}]}`, `no "records" array`},
	}
	for _, tt := range tests {
		var c source.Collect
		err := Decode(sourcetest.Parse(t, tt.input), "", &c)
		if !errors.Is(err, source.ErrNotFormat) || !strings.Contains(err.Error(), tt.reason) {
			t.Errorf("Decode(%s) = %v, want ErrNotFormat saying %q", tt.input, err, tt.reason)
		}
		if len(c.Events)+len(c.Errors)+len(c.Notes) > 0 {
			t.Errorf("Decode(%s) emitted %+v", tt.input, c)
		}
		if Detect(sourcetest.Parse(t, tt.input)) {
			t.Errorf("Detect(%s) = true", tt.input)
		}
	}
}

func TestDetect(t *testing.T) {
	tests := []struct {
		input string
		azure bool
		grid  bool
	}{
		{`{"records":[]}`, true, false},
		{`{"requestId":"r","timestamp":1,"records":[]}`, false, false},
		{`{"requestId":"r","records":[{"data":"eyJ9"}]}`, false, false},
		{`{"records":[{"time":"t","resourceId":"/x","category":"c"}]}`, true, false},
		{`[{"time":"t","resourceId":"/x","operationName":"o"}]`, true, false},
		{`{"time":"t","resourceId":"/x","operationName":"o"}`, true, false},
		{`[{"eventDataId":"e","operationName":{"value":"o"}}]`, true, false},
		{`[{"eventType":"Microsoft.Storage.BlobCreated","eventTime":"t","id":"1","subject":"/x"}]`, false, true},
		{`[{"eventType":"AwsApiCall","eventTime":"t","eventID":"1","eventSource":"s3.amazonaws.com"}]`, false, false},
		{`{"specversion":"1.0","type":"Microsoft.Storage.BlobCreated","source":"/s","id":"1"}`, false, true},
		{`{"specversion":"1.0","type":"google.cloud.audit.log.v1.written","source":"//x","id":"1"}`, false, false},
		{`{"logName":"projects/p/logs/x","timestamp":"t"}`, false, false},
		{`{"Records":[{"eventVersion":"1.08"}]}`, false, false},
		{`[]`, false, false},
		{`[1]`, false, false},
	}
	for _, tt := range tests {
		v := sourcetest.Parse(t, tt.input)
		if got := Detect(v); got != tt.azure {
			t.Errorf("Detect(%s) = %v", tt.input, got)
		}
		if got := DetectEventGrid(v); got != tt.grid {
			t.Errorf("DetectEventGrid(%s) = %v", tt.input, got)
		}
	}
}

func TestParseResourceID(t *testing.T) {
	tests := []struct {
		id   string
		want resourceID
	}{
		{"/subscriptions/S/resourceGroups/rg/providers/Microsoft.Web/sites/app", resourceID{sub: "S", ns: "Microsoft.Web", typ: "Microsoft.Web/sites", site: "app"}},
		{"/SUBSCRIPTIONS/S/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.WEB/SITES/APP/FUNCTIONS/F", resourceID{sub: "S", ns: "MICROSOFT.WEB", site: "APP"}},
		{"/subscriptions/S/providers/Microsoft.Web/sites/app/slots/staging", resourceID{sub: "S", ns: "Microsoft.Web", site: "app"}},
		{"/tenants/T/providers/Microsoft.aadiam", resourceID{tenant: "T", ns: "Microsoft.aadiam"}},
		{"/subscriptions/S", resourceID{sub: "S"}},
		{"/subscriptions/", resourceID{}},
		{"subscriptions/S", resourceID{}},
		{"/", resourceID{}},
		{"", resourceID{}},
		{"/subscriptions/S/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/", resourceID{sub: "S", ns: "Microsoft.Storage"}},
	}
	for _, tt := range tests {
		if got := parseResourceID(tt.id); got != tt.want {
			t.Errorf("parseResourceID(%q) = %+v, want %+v", tt.id, got, tt.want)
		}
	}
}

func TestCleanIP(t *testing.T) {
	for in, want := range map[string]string{
		"203.0.113.1":       "203.0.113.1",
		"203.0.113.1:8080":  "203.0.113.1",
		"2001:db8::1":       "2001:db8::1",
		"[2001:db8::1]:443": "2001:db8::1",
		"<null>":            "",
		"":                  "",
		"host.example":      "",
	} {
		if got := cleanIP(in); got != want {
			t.Errorf("cleanIP(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCanonicalNamespace(t *testing.T) {
	for in, want := range map[string]string{
		"MICROSOFT.WEB":      "Microsoft.Web",
		"microsoft.keyvault": "Microsoft.KeyVault",
		"Microsoft.Web":      "Microsoft.Web",
		"MICROSOFT.UNKNOWN":  "MICROSOFT.UNKNOWN",
		"microsoft.aadiam":   "Microsoft.aadiam",
	} {
		if got := canonicalNamespace(in); got != want {
			t.Errorf("canonicalNamespace(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDeepAndOddRecords(t *testing.T) {
	deep := strings.Repeat(`{"a":`, 120) + `1` + strings.Repeat(`}`, 120)
	input := `{"records":[{"time":"2024-03-05T10:00:00Z","resourceId":"/subscriptions/s","operationName":"Microsoft.Resources/x/write","category":"Administrative","properties":` + deep + `},
		{"time":"2024-03-05T10:00:00Z","resourceId":"/subscriptions/s","operationName":"Microsoft.Resources/x/write","category":"Administrative","identity":{"claims":"{not json"}},
		{"time":"2024-03-05T10:00:00Z","resourceId":"/subscriptions/s","operationName":"Microsoft.Resources/x/write","category":"Administrative","identity":{"claims":[1,2]},"callerIpAddress":"\u00e9"}]}`
	got, err := want.Decode(t, Decoder, input, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("got %d results, want 3 events:\n%s", len(got), strings.Join(got, "\n"))
	}
	for _, line := range got {
		if strings.HasPrefix(line, "fail:") || strings.Contains(line, "principal") || strings.Contains(line, "source_ip") {
			t.Errorf("unexpected %s", line)
		}
	}
}

func TestBadJSONNeverReachesDecoders(t *testing.T) {
	for _, input := range []string{"", " ", `{"records":[`, "{\"records\":[\"\xff\"]}", `{"a":1}{"b":2}`} {
		var d jsondoc.Doc
		if err := d.Parse([]byte(input)); err == nil {
			t.Errorf("Parse(%q) succeeded", input)
		}
		if Detect(d.Root()) || DetectEventGrid(d.Root()) {
			t.Errorf("Detect on the failed parse of %q = true", input)
		}
		var c source.Collect
		if err := Decode(d.Root(), "", &c); !errors.Is(err, source.ErrNotFormat) {
			t.Errorf("Decode(missing) = %v", err)
		}
	}
}
