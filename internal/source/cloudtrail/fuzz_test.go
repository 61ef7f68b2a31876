package cloudtrail

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/vigil-sec/vigil/internal/jsondoc"
	"github.com/vigil-sec/vigil/internal/source"
)

func FuzzCloudTrail(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.json*")
	for _, name := range files {
		if b, err := os.ReadFile(name); err == nil {
			if b, err = source.Gunzip(b); err == nil {
				f.Add(b)
			}
		}
	}
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
		for _, e := range c.Events {
			if e.Cloud == "" || e.Source == "" || e.ID == "" || e.Action == "" || e.Time.IsZero() {
				t.Fatalf("incomplete event %s", e.AppendJSON(nil, true))
			}
		}
	})
}
