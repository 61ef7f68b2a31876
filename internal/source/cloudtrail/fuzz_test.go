package cloudtrail

import (
	"testing"

	"github.com/vigil-sec/vigil/internal/jsondoc"
	"github.com/vigil-sec/vigil/internal/source"
	"github.com/vigil-sec/vigil/internal/source/sourcetest"
)

func FuzzCloudTrail(f *testing.F) {
	sourcetest.AddFiles(f, "testdata/*.json*")
	for _, s := range []string{
		`{"Records":[{"eventTime":"2024-05-14T09:00:00Z","eventName":"X","eventSource":"lambda.amazonaws.com","requestParameters":{"functionName":"arn:aws:lambda:r:1:function:f:q"},"responseElements":{"functionArn":"arn:x"},"resources":[{"ARN":"arn:x"}]}]}`,
		`{"Events":[{"EventTime":1.5e9,"CloudTrailEvent":"{\"eventTime\":\"2024-05-14T09:00:00Z\",\"eventName\":\"X\"}"}]}`,
		`[{"detail-type":"AWS API Call via CloudTrail","time":"x","detail":{"eventName":"X"}}]`,
		`{"eventVersion":"1","eventType":"AwsCloudTrailInsight"}`,
		`{"digestStartTime":1,"logFiles":5}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var d jsondoc.Doc
		if d.Parse(in) != nil {
			return
		}
		Detect(d.Root())
		var c source.Collect
		_ = Decode(d.Root(), "", &c)
		sourcetest.CheckEvents(t, c.Events)
		for _, e := range c.Events {
			if e.Action == "" {
				t.Fatalf("event without an action: %s", e.AppendJSON(nil, true))
			}
		}
	})
}
