package azure

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-sec/vigil/internal/source"
	"github.com/vigil-sec/vigil/internal/source/sourcetest"
)

func TestValidationCode(t *testing.T) {
	tests := []struct {
		input string
		code  string
		ok    bool
	}{
		{`[{"id":"1","topic":"/subscriptions/s","subject":"","data":{"validationCode":"512d38b6","validationUrl":"https://x"},"eventType":"Microsoft.EventGrid.SubscriptionValidationEvent","eventTime":"2024-03-05T14:00:00Z","metadataVersion":"1","dataVersion":"1"}]`, "512d38b6", true},
		{`{"id":"1","subject":"","data":{"validationCode":"abc"},"eventType":"Microsoft.EventGrid.SubscriptionValidationEvent","eventTime":"2024-03-05T14:00:00Z"}`, "abc", true},
		{`{"specversion":"1.0","id":"1","source":"/s","type":"Microsoft.EventGrid.SubscriptionValidationEvent","data":{"validationCode":"ce"}}`, "ce", true},
		{`[{"id":"1","subject":"","data":{},"eventType":"Microsoft.EventGrid.SubscriptionValidationEvent","eventTime":"2024-03-05T14:00:00Z"}]`, "", false},
		{`[{"id":"1","subject":"","data":{"validationCode":"x"},"eventType":"Microsoft.Storage.BlobCreated","eventTime":"2024-03-05T14:00:00Z"}]`, "", false},
		{`[]`, "", false},
		{`{"validationCode":"x"}`, "", false},
		{`null`, "", false},
	}
	for _, tt := range tests {
		code, ok := ValidationCode(sourcetest.Parse(t, tt.input))
		if code != tt.code || ok != tt.ok {
			t.Errorf("ValidationCode(%s) = %q, %v, want %q, %v", tt.input, code, ok, tt.code, tt.ok)
		}
	}
}

func TestDecodeEventGrid(t *testing.T) {
	tests := []struct {
		name, input string
		want        []string
	}{{
		name:  "validation is a note",
		input: `[{"id":"1","topic":"/subscriptions/s","data":{"validationCode":"c"},"eventType":"Microsoft.EventGrid.SubscriptionValidationEvent","eventTime":"2024-03-05T14:00:00Z"}]`,
		want:  []string{`note: Event Grid subscription validation event for "/subscriptions/s": no log record; the webhook confirms the subscription by answering with data.validationCode`},
	}, {
		name:  "resource write cancel",
		input: `{"id":"c1","topic":"/subscriptions/S","subject":"/subscriptions/S/resourceGroups/rg/providers/Microsoft.Resources/deployments/d","eventType":"Microsoft.Resources.ResourceWriteCancel","eventTime":"2024-03-05T14:00:00Z","data":{"operationName":"Microsoft.Resources/deployments/write","status":"Canceled","claims":{"upn":"erin@example.com"}}}`,
		want:  []string{`{"time":"2024-03-05T14:00:00Z","cloud":"azure","source":"azure.activity","id":"c1","account":"s","service":"Microsoft.Resources","action":"Microsoft.Resources/deployments/write","outcome":"unknown","principal":"erin@example.com","principal_type":"User","resources":[{"type":"Microsoft.Resources/deployments","uid":"/subscriptions/S/resourceGroups/rg/providers/Microsoft.Resources/deployments/d"}]}`},
	}, {
		name:  "custom CloudEvent type is decoded when the kind is given",
		input: `{"specversion":"1.0","type":"com.example.order.created","source":"/subscriptions/S/resourceGroups/rg/providers/Microsoft.EventGrid/topics/orders","id":42,"time":"2024-03-05T14:00:00+01:00","data":{"order":1}}`,
		want:  []string{`{"time":"2024-03-05T13:00:00Z","cloud":"azure","source":"azure.eventgrid","id":"42","account":"s","service":"Microsoft.EventGrid","action":"com.example.order.created","outcome":"unknown","resources":[{"type":"Microsoft.EventGrid/topics","uid":"/subscriptions/S/resourceGroups/rg/providers/Microsoft.EventGrid/topics/orders"}]}`},
	}, {
		name: "bad events",
		input: `[{"id":"1","subject":"/s","eventType":"Microsoft.Resources.ResourceWriteSuccess","eventTime":"2024-03-05T14:00:00Z","data":{}},
			{"id":"2","subject":"/s","eventType":"Microsoft.Resources.ResourceWriteSuccess","eventTime":"2024-03-05T14:00:00Z","data":[]},
			{"id":"3","subject":"/s","eventType":"Microsoft.Storage.BlobCreated","eventTime":"soon"},
			{"id":"4"},
			"x"]`,
		want: []string{
			`fail: [0]: Microsoft.Resources.ResourceWriteSuccess event: missing "data.operationName"`,
			`fail: [1]: Microsoft.Resources.ResourceWriteSuccess event: "data" is an array, want an object`,
			`fail: [2]: "eventTime" is not an RFC 3339 time: "soon"`,
			`fail: [3]: not an Event Grid event (no id, eventType, eventTime and subject) nor a CloudEvent (no specversion, type, source and id)`,
			`fail: [4]: record is not a JSON object (it is a string)`,
		},
	}, {
		name:  "CloudEvent without time",
		input: `{"specversion":"1.0","type":"Microsoft.Storage.BlobCreated","source":"/subscriptions/S","id":"1"}`,
		want:  []string{`fail: missing "time"`},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := want.Decode(t, EventGridDecoder, tt.input, "")
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecodeEventGridNotFormat(t *testing.T) {
	for _, input := range []string{`{}`, `[{"x":1}]`, `"s"`, `{"records":[]}`, `{"specversion":"1.0"}`} {
		var c source.Collect
		err := DecodeEventGrid(sourcetest.Parse(t, input), "", &c)
		if !errors.Is(err, source.ErrNotFormat) {
			t.Errorf("DecodeEventGrid(%s) = %v, want ErrNotFormat", input, err)
		}
	}
}
