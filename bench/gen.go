// Package bench holds Vigil's end-to-end benchmarks and the generators of
// realistic data they run on: CloudTrail delivery files and Sigma rule sets
// of any size.
package bench

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/vigil-sec/vigil/internal/detect"
	"github.com/vigil-sec/vigil/internal/jsondoc"
)

// apiCall is an AWS API call as it appears in CloudTrail.
type apiCall struct {
	source, name string
	weight       int
	params       func(r *rand.Rand) string // requestParameters JSON
	readOnly     bool
}

func q(s string) string { return string(jsondoc.AppendString(nil, s)) }

var functions = []string{"orders-api", "payments-worker", "image-resize", "auth-callback", "report-builder", "inventory-sync", "email-sender", "audit-export"}

func fn(r *rand.Rand) string { return functions[r.IntN(len(functions))] }

var calls = []apiCall{
	{"lambda.amazonaws.com", "Invoke", 30, func(r *rand.Rand) string {
		return `{"functionName":` + q("arn:aws:lambda:us-east-1:111122223333:function:"+fn(r)) + `,"invocationType":"RequestResponse"}`
	}, false},
	{"lambda.amazonaws.com", "GetFunction20150331v2", 8, func(r *rand.Rand) string { return `{"functionName":` + q(fn(r)) + `}` }, true},
	{"lambda.amazonaws.com", "ListFunctions20150331", 6, func(*rand.Rand) string { return `{"maxItems":50}` }, true},
	{"lambda.amazonaws.com", "UpdateFunctionCode20150331v2", 2, func(r *rand.Rand) string {
		return `{"functionName":` + q(fn(r)) + `,"s3Bucket":"ci-artifacts-111122223333","s3Key":"builds/app.zip","publish":true}`
	}, false},
	{"lambda.amazonaws.com", "UpdateFunctionConfiguration20150331v2", 2, func(r *rand.Rand) string {
		return `{"functionName":` + q(fn(r)) + `,"memorySize":512,"timeout":30,"environment":{}}`
	}, false},
	{"lambda.amazonaws.com", "AddPermission20150331v2", 1, func(r *rand.Rand) string {
		return `{"functionName":` + q(fn(r)) + `,"statementId":"apigw","action":"lambda:InvokeFunction","principal":"apigateway.amazonaws.com","sourceArn":"arn:aws:execute-api:us-east-1:111122223333:abc123/*"}`
	}, false},
	{"lambda.amazonaws.com", "CreateFunction20150331", 1, func(r *rand.Rand) string {
		return `{"functionName":` + q(fn(r)+"-v2") + `,"runtime":"python3.12","role":"arn:aws:iam::111122223333:role/lambda-exec","handler":"app.handler","timeout":30,"memorySize":256}`
	}, false},
	{"sts.amazonaws.com", "AssumeRole", 12, func(r *rand.Rand) string {
		return `{"roleArn":"arn:aws:iam::111122223333:role/deploy","roleSessionName":` + q(fmt.Sprintf("session-%d", r.IntN(1000))) + `,"durationSeconds":3600}`
	}, false},
	{"sts.amazonaws.com", "GetCallerIdentity", 4, func(*rand.Rand) string { return `null` }, true},
	{"s3.amazonaws.com", "GetObject", 14, func(r *rand.Rand) string {
		return `{"bucketName":"app-data-111122223333","key":` + q(fmt.Sprintf("uploads/%d.jpg", r.IntN(100000))) + `,"Host":"app-data-111122223333.s3.us-east-1.amazonaws.com"}`
	}, true},
	{"s3.amazonaws.com", "PutObject", 8, func(r *rand.Rand) string {
		return `{"bucketName":"app-data-111122223333","key":` + q(fmt.Sprintf("thumbs/%d.jpg", r.IntN(100000))) + `}`
	}, false},
	{"secretsmanager.amazonaws.com", "GetSecretValue", 5, func(r *rand.Rand) string {
		return `{"secretId":` + q("prod/"+fn(r)+"/db") + `}`
	}, true},
	{"kms.amazonaws.com", "Decrypt", 10, func(*rand.Rand) string {
		return `{"encryptionAlgorithm":"SYMMETRIC_DEFAULT","encryptionContext":{"aws:lambda:FunctionArn":"arn:aws:lambda:us-east-1:111122223333:function:orders-api"}}`
	}, true},
	{"iam.amazonaws.com", "PassRole", 1, func(*rand.Rand) string { return `{"roleName":"lambda-exec"}` }, false},
	{"iam.amazonaws.com", "AttachRolePolicy", 1, func(*rand.Rand) string {
		return `{"roleName":"lambda-exec","policyArn":"arn:aws:iam::aws:policy/AWSLambdaBasicExecutionRole"}`
	}, false},
	{"iam.amazonaws.com", "ListRoles", 3, func(*rand.Rand) string { return `{"maxItems":100}` }, true},
	{"logs.amazonaws.com", "CreateLogStream", 6, func(r *rand.Rand) string {
		return `{"logGroupName":` + q("/aws/lambda/"+fn(r)) + `,"logStreamName":"2026/11/20/[$LATEST]0f1e2d3c4b5a69788796a5b4c3d2e1f0"}`
	}, false},
	{"ec2.amazonaws.com", "DescribeInstances", 5, func(*rand.Rand) string { return `{"instancesSet":{},"filterSet":{}}` }, true},
	{"cloudtrail.amazonaws.com", "LookupEvents", 1, func(*rand.Rand) string { return `{"maxResults":50}` }, true},
	{"dynamodb.amazonaws.com", "DescribeTable", 4, func(*rand.Rand) string { return `{"tableName":"orders"}` }, true},
}

var identities = []func(r *rand.Rand) string{
	func(r *rand.Rand) string {
		f := fn(r)
		return `{"type":"AssumedRole","principalId":"AROAEXAMPLEID00000001:` + f + `","arn":"arn:aws:sts::111122223333:assumed-role/` + f + `-role/` + f +
			`","accountId":"111122223333","accessKeyId":"ASIAEXAMPLE0000000001","sessionContext":{"sessionIssuer":{"type":"Role","principalId":"AROAEXAMPLEID00000001","arn":"arn:aws:iam::111122223333:role/` + f +
			`-role","accountId":"111122223333","userName":"` + f + `-role"},"attributes":{"creationDate":"2026-11-20T09:58:01Z","mfaAuthenticated":"false"}}}`
	},
	func(*rand.Rand) string {
		return `{"type":"IAMUser","principalId":"AIDAEXAMPLEID00000002","arn":"arn:aws:iam::111122223333:user/dev-alice","accountId":"111122223333","accessKeyId":"AKIAEXAMPLE000000002","userName":"dev-alice"}`
	},
	func(*rand.Rand) string {
		return `{"type":"AssumedRole","principalId":"AROAEXAMPLEID00000003:github-actions","arn":"arn:aws:sts::111122223333:assumed-role/ci-deploy/github-actions","accountId":"111122223333","accessKeyId":"ASIAEXAMPLE0000000003","sessionContext":{"sessionIssuer":{"type":"Role","principalId":"AROAEXAMPLEID00000003","arn":"arn:aws:iam::111122223333:role/ci-deploy","accountId":"111122223333","userName":"ci-deploy"},"webIdFederationData":{"federatedProvider":"arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com","attributes":{}},"attributes":{"creationDate":"2026-11-20T09:00:00Z","mfaAuthenticated":"false"}}}`
	},
	func(*rand.Rand) string {
		return `{"type":"AWSService","invokedBy":"lambda.amazonaws.com"}`
	},
}

var agents = []string{
	"aws-sdk-go-v2/1.30.3 os/linux lang/go#1.22.5 md/GOOS#linux md/GOARCH#amd64 api/lambda#1.56.3",
	"Boto3/1.34.144 md/Botocore#1.34.144 ua/2.0 os/linux#5.10.220 md/arch#x86_64 lang/python#3.12.4 exec-env/AWS_Lambda_python3.12",
	"aws-cli/2.17.13 md/awscrt#0.20.11 ua/2.0 os/macos#23.5.0 md/arch#arm64 lang/python#3.11.9 md/prompt#off command/lambda.get-function",
	"lambda.amazonaws.com",
	"console.amazonaws.com",
}

// CloudTrailFile returns an S3 delivery file of n realistic CloudTrail
// records, the same for the same seed.
func CloudTrailFile(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	total := 0
	for _, c := range calls {
		total += c.weight
	}
	base := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	var b strings.Builder
	b.Grow(n * 1400)
	b.WriteString(`{"Records":[`)
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		pick := r.IntN(total)
		var c apiCall
		for _, x := range calls {
			if pick < x.weight {
				c = x
				break
			}
			pick -= x.weight
		}
		ident := identities[r.IntN(len(identities))](r)
		ip := fmt.Sprintf("198.51.100.%d", r.IntN(250)+1)
		if strings.Contains(ident, "AWSService") {
			ip = "lambda.amazonaws.com"
		}
		errPart := ""
		if r.IntN(40) == 0 {
			errPart = `"errorCode":"AccessDenied","errorMessage":"User is not authorized to perform this operation",`
		}
		t := base.Add(time.Duration(i) * 37 * time.Millisecond)
		fmt.Fprintf(&b, `{"eventVersion":"1.09","userIdentity":%s,"eventTime":"%s","eventSource":"%s","eventName":"%s","awsRegion":"us-east-1","sourceIPAddress":"%s","userAgent":%s,%s"requestParameters":%s,"responseElements":null,"requestID":"%08x-4b1f-4c2e-9d5a-%012x","eventID":"%08x-7e2a-4f0b-8c3d-%012x","readOnly":%v,"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333","eventCategory":"Management","tlsDetails":{"tlsVersion":"TLSv1.3","cipherSuite":"TLS_AES_128_GCM_SHA256","clientProvidedHostHeader":"%s"}}`,
			ident, t.Format(time.RFC3339), c.source, c.name, ip, q(agents[r.IntN(len(agents))]), errPart, c.params(r),
			r.Uint32(), r.Uint64()&0xffffffffffff, r.Uint32(), uint64(i), c.readOnly, strings.Replace(c.source, "amazonaws.com", "us-east-1.amazonaws.com", 1))
	}
	b.WriteString(`]}`)
	return []byte(b.String())
}

// eventNames are the actions generated rules look for: those in the data
// and many that are not, as in a real rule set.
func eventNames() []string {
	var out []string
	for _, c := range calls {
		out = append(out, c.name)
	}
	for _, svc := range []string{"Bucket", "Function", "Role", "User", "Policy", "Key", "Secret", "Trail", "Detector", "Table", "Stack", "Queue", "Topic", "Stream", "Cluster", "Alias", "Layer", "Snapshot"} {
		for _, verb := range []string{"Create", "Delete", "Update", "Put", "Get", "List", "Describe", "Tag", "Untag", "Attach", "Detach", "Enable", "Disable"} {
			out = append(out, verb+svc)
		}
	}
	return out
}

// Rules returns n generated CloudTrail rules shaped like community rules:
// most select an eventSource and eventName with one more condition and a
// filter; some use a prefix; one in twenty constrains no event name.
func Rules(n int, seed uint64) []detect.File {
	r := rand.New(rand.NewPCG(seed, seed+1))
	names := eventNames()
	extras := []string{
		"    userIdentity.type: IAMUser\n",
		"    userAgent|contains: aws-cli\n",
		"    sourceIPAddress|cidr: 203.0.113.0/24\n",
		"    errorCode:\n      - AccessDenied\n      - UnauthorizedOperation\n",
		"    requestParameters.functionName|endswith: -v2\n",
		"    userIdentity.arn|re: ':assumed-role/[^/]+-role/'\n",
		"    readOnly: false\n",
	}
	out := make([]detect.File, 0, n)
	for i := 0; i < n; i++ {
		name := names[r.IntN(len(names))]
		var sel string
		switch {
		case i%20 == 19:
			sel = "  selection:\n    userAgent|contains: " + fmt.Sprintf("scanner-%d", i) + "\n    errorCode|exists: true\n"
		case i%10 == 3:
			sel = "  selection:\n    eventName|startswith: " + name[:min(len(name), 6)] + "\n" + extras[r.IntN(len(extras))]
		default:
			sel = "  selection:\n    eventSource: " + sourceFor(name) + "\n    eventName: " + name + "\n" + extras[r.IntN(len(extras))]
		}
		rule := fmt.Sprintf("title: Generated rule %d\nid: %08x-0000-4000-8000-%012x\nstatus: test\nlevel: medium\ntags:\n  - attack.t1098\nlogsource:\n  product: aws\n  service: cloudtrail\ndetection:\n%s  filter:\n    userIdentity.arn|endswith: ':role/break-glass'\n  condition: selection and not filter\nfalsepositives:\n  - generated\n",
			i, i, i, sel)
		out = append(out, detect.File{Name: fmt.Sprintf("gen/%04d.yml", i), Data: []byte(rule)})
	}
	return out
}

func sourceFor(name string) string {
	for _, c := range calls {
		if c.name == name {
			return c.source
		}
	}
	return "iam.amazonaws.com"
}
