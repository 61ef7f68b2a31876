package lambda

import (
	"bytes"
	"strings"
	"testing"

	"github.com/vigil-sec/vigil/internal/jsondoc"
	"github.com/vigil-sec/vigil/internal/source"
	"github.com/vigil-sec/vigil/internal/source/sourcetest"
)

func FuzzLambda(f *testing.F) {
	for _, b := range sourcetest.AddFiles(f, "testdata/*.*") {
		for _, line := range bytes.Split(b, []byte("\n")) {
			f.Add(line)
		}
	}
	for _, s := range []string{
		"REPORT RequestId: x\tDuration: 1e400 ms\tMemory Size: -1 MB\tMax Memory Used: NaN MB\tStatus:",
		"RequestId: \nError: ",
		"[ERROR] \n",
		"2024-05-14T10:00:00.000Z\tundefined\tERROR\tUncaught Exception \t{\"errorType\":5}",
		`{"type":"platform.report","record":{"metrics":{"durationMs":1e308,"maxMemoryUsedMB":1,"memorySizeMB":0}}}`,
		"2024/05/14/[$LATEST]x 2024-05-14T10:00:00 Task timed out after x seconds",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var c source.Collect
		DetectText(in)
		_ = DecodeText(in, "line 1", &c)
		DecodeMessage(in, Meta{LogGroup: "/aws/lambda/f", ID: "1", Timestamp: 1}, "logEvents[0]", &c)
		var d jsondoc.Doc
		if d.Parse(in) == nil {
			Detect(d.Root())
			_ = Decode(d.Root(), "", &c)
		}
		check(t, &c)
	})
}

func check(t *testing.T, c *source.Collect) {
	t.Helper()
	for _, e := range c.Events {
		if e.Cloud == "" || e.Source == "" || e.ID == "" || e.Action == "" || e.Raw.Get("lambda").Kind() != jsondoc.Object {
			t.Fatalf("incomplete event %s", e.AppendJSON(nil, true))
		}
	}
	for _, e := range c.Errors {
		if strings.Contains(e.Error(), "building the raw record") {
			t.Fatalf("built an invalid raw record: %v", e)
		}
	}
}
