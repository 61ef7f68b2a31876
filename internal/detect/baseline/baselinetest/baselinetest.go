// Package baselinetest provides what tests and benchmarks of baseline
// evaluation need: a clock that only moves when told, and generated
// streams of realistic events.
package baselinetest

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/jsondoc"
)

// Clock is a clock that moves only when told. It is safe for concurrent
// use.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock showing t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Raw parses a JSON document for Event.Raw. It panics on invalid JSON:
// the documents are written by tests.
func Raw(js string) jsondoc.Value {
	d := new(jsondoc.Doc)
	if err := d.Parse([]byte(js)); err != nil {
		panic(fmt.Sprintf("baselinetest.Raw: %v", err))
	}
	return d.Root()
}

// Mix generates n events from start on, spread evenly over span, in time
// order, as a serverless estate with the given number of functions
// produces them: for each function a Lambda REPORT line per invocation
// and application log lines, CloudTrail calls by its role and by people
// (some refused), Azure HTTP requests and Cloud Functions request logs,
// from a pool of addresses and user agents.
func Mix(r *rand.Rand, start time.Time, span time.Duration, n, functions int) []*event.Event {
	const accounts = 4
	reports := []jsondoc.Value{
		Raw(`{"lambda":{"type":"REPORT","durationMs":85.1,"billedDurationMs":86,"memorySizeMB":256,"maxMemoryUsedMB":80}}`),
		Raw(`{"lambda":{"type":"REPORT","durationMs":1203.7,"billedDurationMs":1204,"memorySizeMB":1024,"maxMemoryUsedMB":300}}`),
		Raw(`{"lambda":{"type":"platform.report","durationMs":12.2,"billedDurationMs":13,"memorySizeMB":128,"maxMemoryUsedMB":40}}`),
	}
	appLog := Raw(`{"lambda":{"type":"LOG","level":"INFO"}}`)
	httpReq := Raw(`{"httpRequest":{"status":200,"requestMethod":"GET"}}`)
	actions := []string{"GetItem", "PutItem", "Query", "GetSecretValue", "GetObject", "PutObject", "Invoke",
		"DescribeInstances", "ListFunctions", "GetFunction", "AssumeRole", "SendMessage"}
	agents := []string{
		"aws-sdk-go-v2/1.30.1 os/linux lang/go#1.22.5 md/GOOS#linux exec-env/AWS_Lambda_provided.al2023",
		"Boto3/1.34.34 md/Botocore#1.34.34 ua/2.0 os/linux#5.10 md/arch#x86_64 lang/python#3.12.2 exec-env/AWS_Lambda_python3.12",
		"aws-cli/2.15.30 Python/3.11.8 Darwin/23.4.0 exe/x86_64",
		"console.amazonaws.com",
	}
	regions := []string{"us-east-1", "us-east-1", "eu-west-1", "us-west-2"}
	out := make([]*event.Event, 0, n)
	step := span / time.Duration(max(n, 1))
	for i := 0; i < n; i++ {
		t := start.Add(time.Duration(i) * step)
		fn := r.IntN(functions)
		acct := fmt.Sprintf("1111222233%02d", fn%accounts)
		name := fmt.Sprintf("fn-%04d", fn)
		ev := &event.Event{Time: t, ID: fmt.Sprintf("ev-%08d", i), Account: acct, Region: regions[fn%len(regions)]}
		switch k := r.IntN(100); {
		case k < 35: // invocation report
			ev.Cloud, ev.Source, ev.Service, ev.Function = event.AWS, event.SourceLambda, "lambda.amazonaws.com", name
			ev.Action, ev.Outcome, ev.Raw = event.ActionFunctionReport, event.Success, reports[fn%len(reports)]
			if r.IntN(200) == 0 {
				ev.Action, ev.Outcome = event.ActionFunctionTimeout, event.Failure
			}
		case k < 55: // application log line
			ev.Cloud, ev.Source, ev.Service, ev.Function = event.AWS, event.SourceLambda, "lambda.amazonaws.com", name
			ev.Action, ev.Raw = event.ActionFunctionLog, appLog
		case k < 85: // API call by the function's role or by a person
			ev.Cloud, ev.Source, ev.Service = event.AWS, event.SourceCloudTrail, "dynamodb.amazonaws.com"
			ev.Action = actions[r.IntN(len(actions))]
			if r.IntN(10) == 0 {
				ev.Principal = fmt.Sprintf("arn:aws:iam::%s:user/dev-%02d", acct, r.IntN(30))
				ev.PrincipalType = "IAMUser"
				ev.UserAgent = agents[2+r.IntN(2)]
			} else {
				ev.Principal = fmt.Sprintf("arn:aws:sts::%s:assumed-role/%s-role/%s", acct, name, name)
				ev.PrincipalType = "AssumedRole"
				ev.UserAgent = agents[fn%2]
			}
			ev.SourceIP = fmt.Sprintf("198.51.100.%d", fn%200)
			ev.Outcome = event.Success
			if r.IntN(50) == 0 {
				ev.Outcome, ev.ErrorCode = event.Failure, "AccessDenied"
			}
		case k < 93: // Azure Functions HTTP request
			ev.Cloud, ev.Source, ev.Service, ev.Function = event.Azure, event.SourceAzureHTTP, "Microsoft.Web", name
			ev.Action, ev.Outcome, ev.SourceIP = "GET", event.Success, fmt.Sprintf("203.0.113.%d", r.IntN(250))
			if r.IntN(100) == 0 {
				ev.Outcome, ev.ErrorCode = event.Failure, "429"
			}
		default: // Cloud Functions request log
			ev.Cloud, ev.Source, ev.Service, ev.Function = event.GCP, event.SourceGCPFunctions, "run.googleapis.com", name
			ev.Action, ev.Outcome, ev.Raw = event.ActionFunctionEnd, event.Success, httpReq
			ev.SourceIP = fmt.Sprintf("192.0.2.%d", r.IntN(250))
		}
		out = append(out, ev)
	}
	return out
}
