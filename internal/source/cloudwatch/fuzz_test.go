package cloudwatch

import (
	"strings"
	"testing"

	"github.com/vigil-sec/vigil/internal/jsondoc"
	"github.com/vigil-sec/vigil/internal/source"
	"github.com/vigil-sec/vigil/internal/source/sourcetest"
)

func seeds(f *testing.F) { sourcetest.AddFiles(f, "testdata/*.json*") }

func check(t *testing.T, c *source.Collect) {
	t.Helper()
	// Not sourcetest.CheckEvents: a log event whose timestamp is 0 gives
	// an event without a time.
	for _, e := range c.Events {
		if e.Cloud == "" || e.Source == "" || e.ID == "" || e.Action == "" || !e.Raw.Exists() {
			t.Fatalf("incomplete event %s", e.AppendJSON(nil, true))
		}
	}
	for _, e := range c.Errors {
		if strings.Contains(e.Error(), "building the raw record") {
			t.Fatalf("built an invalid raw record: %v", e)
		}
	}
}

// FuzzCloudWatch runs both decoders on JSON documents.
func FuzzCloudWatch(f *testing.F) {
	seeds(f)
	f.Add([]byte(`{"messageType":"DATA_MESSAGE","logGroup":"CloudTrail/x","logEvents":[{"timestamp":1,"message":"{\"eventVersion\":1}"},{"timestamp":1,"message":"{"}]}`))
	f.Add([]byte(`{"requestId":"r","timestamp":1,"records":[{"data":"e30="},{"data":"H4sIAAAAAAAA/w=="}]}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		var d jsondoc.Doc
		if d.Parse(in) != nil {
			return
		}
		var c source.Collect
		Detect(d.Root())
		DetectFirehose(d.Root())
		FirehoseRequestID(d.Root())
		_ = Decode(d.Root(), "", &c)
		_ = DecodeFirehose(d.Root(), "", &c)
		check(t, &c)
	})
}

// FuzzRecordData runs the decoding of a Firehose record's data, after
// base64 and gzip, on arbitrary bytes: concatenated payloads and extracted
// messages.
func FuzzRecordData(f *testing.F) {
	seeds(f)
	f.Add([]byte("START RequestId: r Version: 1\n{\"eventVersion\":\"1\",\"eventSource\":\"x\"}\nplain\n"))
	f.Add([]byte(`{"messageType":"DATA_MESSAGE","logEvents":[]}{"messageType":"CONTROL_MESSAGE","logEvents":[{}]}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		var c source.Collect
		if isJSONPayload(in) {
			decodePayloads(in, "records[0]", "", &c)
		} else {
			decodeExtracted(in, "records[0]", "", 1, &c)
		}
		check(t, &c)
	})
}
