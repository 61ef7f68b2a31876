package bench

import (
	"bytes"
	"fmt"
	"time"
)

// CloudTrailStream turns CloudTrailFile output into an endless supply of
// distinct S3 delivery files, as a log shipper would send them: every file
// has the records of one of a few CloudTrailFile templates, with event IDs
// unique across files and event times chosen by the caller. Making a file
// is a copy and a few in-place patches, cheap enough for a load generator
// that must not steal the CPU of the server it measures.
type CloudTrailStream struct {
	records   int
	templates []streamTemplate
}

type streamTemplate struct {
	data    []byte
	idAt    []int // offsets of the first 8 hex digits of each eventID
	timeAt  []int // offsets of each eventTime value (20 bytes, RFC 3339 UTC)
	closeAt int   // offset of the final "]}"
}

const (
	eventIDKey   = `"eventID":"`
	eventTimeKey = `"eventTime":"`
	timeLen      = len("2006-01-02T15:04:05Z")
)

// NewCloudTrailStream prepares files of records records each, from variants
// CloudTrailFile templates generated from seed.
func NewCloudTrailStream(records, variants int, seed uint64) *CloudTrailStream {
	s := &CloudTrailStream{records: records}
	for v := 0; v < max(variants, 1); v++ {
		data := CloudTrailFile(records, seed+uint64(v))
		tp := streamTemplate{data: data, closeAt: bytes.LastIndex(data, []byte("]}"))}
		for off := 0; ; {
			i := bytes.Index(data[off:], []byte(eventIDKey))
			if i < 0 {
				break
			}
			off += i + len(eventIDKey)
			tp.idAt = append(tp.idAt, off)
		}
		for off := 0; ; {
			i := bytes.Index(data[off:], []byte(eventTimeKey))
			if i < 0 {
				break
			}
			off += i + len(eventTimeKey)
			tp.timeAt = append(tp.timeAt, off)
		}
		if len(tp.idAt) != records || len(tp.timeAt) != records || tp.closeAt < 0 {
			panic(fmt.Sprintf("bench: CloudTrailFile template has %d event IDs and %d event times for %d records", len(tp.idAt), len(tp.timeAt), records))
		}
		s.templates = append(s.templates, tp)
	}
	return s
}

// Records is the number of records in each file.
func (s *CloudTrailStream) Records() int { return s.records }

// AppendFile appends delivery file number file to dst and returns it. Its
// records' event IDs are unique to the file number (record i of file f has
// the ID "<f as 8 hex digits>-7e2a-4f0b-8c3d-<i as 12 hex digits>"), and
// record i happened at start + i*step (to the second). extra, if not empty,
// are more records, comma-separated JSON objects, added at the end.
func (s *CloudTrailStream) AppendFile(dst []byte, file uint32, start time.Time, step time.Duration, extra []byte) []byte {
	tp := &s.templates[int(file)%len(s.templates)]
	base := len(dst)
	dst = append(dst, tp.data[:tp.closeAt]...)
	out := dst[base:]
	var hex [8]byte
	const digits = "0123456789abcdef"
	for i := range hex {
		hex[i] = digits[(file>>(28-4*i))&0xf]
	}
	var tbuf [32]byte
	for i := 0; i < s.records; i++ {
		copy(out[tp.idAt[i]:], hex[:])
		ts := start.Add(time.Duration(i)*step).UTC().AppendFormat(tbuf[:0], time.RFC3339)
		if len(ts) != timeLen {
			panic("bench: event time " + string(ts) + " does not fit the template")
		}
		copy(out[tp.timeAt[i]:], ts)
	}
	if len(extra) > 0 {
		dst = append(dst, ',')
		dst = append(dst, extra...)
	}
	return append(dst, "]}"...)
}

// StopLoggingRecord returns one CloudTrail record of an IAM user stopping
// the account's trail, which the built-in rule "CloudTrail Logging Stopped"
// detects. user names the IAM user; the record's principal is
// arn:aws:iam::111122223333:user/<user>. id must be unique.
func StopLoggingRecord(user string, id uint64, t time.Time) []byte {
	return fmt.Appendf(nil, `{"eventVersion":"1.09","userIdentity":{"type":"IAMUser","principalId":"AIDAEXAMPLEID%07d","arn":%s,"accountId":"111122223333","accessKeyId":"AKIAEXAMPLE%09d","userName":%s},"eventTime":"%s","eventSource":"cloudtrail.amazonaws.com","eventName":"StopLogging","awsRegion":"us-east-1","sourceIPAddress":"203.0.113.77","userAgent":"aws-cli/2.17.13 md/awscrt#0.20.11 ua/2.0 os/linux#6.1.0 md/arch#x86_64 lang/python#3.11.9 command/cloudtrail.stop-logging","requestParameters":{"name":"arn:aws:cloudtrail:us-east-1:111122223333:trail/management-events"},"responseElements":null,"requestID":"5f1c0a9e-2b7d-4e3a-8c61-%012x","eventID":"0c5a7f3e-51a2-4b8e-9d0f-%012x","readOnly":false,"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333","eventCategory":"Management","tlsDetails":{"tlsVersion":"TLSv1.3","cipherSuite":"TLS_AES_128_GCM_SHA256","clientProvidedHostHeader":"cloudtrail.us-east-1.amazonaws.com"}}`,
		id%10000000, q("arn:aws:iam::111122223333:user/"+user), id%1000000000, q(user), t.UTC().Format(time.RFC3339), id, id)
}

// Rare actors and actions, for searches that select few events.
const (
	RareUsers   = 1000 // contractor-000 .. contractor-999
	RareIPs     = 200  // 192.0.2.1 .. 192.0.2.200
	RareAccount = "444455556666"
)

var rareCalls = []struct{ source, name, params string }{
	{"iam.amazonaws.com", "ListAccessKeys", `{"userName":"deploy-bot"}`},
	{"iam.amazonaws.com", "GetAccountAuthorizationDetails", `{"filter":["Role","User"]}`},
	{"s3.amazonaws.com", "GetBucketPolicy", `{"bucketName":"app-data-444455556666","policy":""}`},
	{"lambda.amazonaws.com", "GetFunctionConfiguration20150331v2", `{"functionName":"billing-export"}`},
	{"ssm.amazonaws.com", "GetParametersByPath", `{"path":"/prod/","recursive":true,"withDecryption":true}`},
}

// RareRecord returns record n of a thin stream of uncommon activity, to mix
// into CloudTrailStream files so that searches have selective values: an
// IAM user contractor-<n%RareUsers> in account RareAccount, from
// 192.0.2.<n%RareIPs+1>, calling one of a few APIs the common records never
// call (one of them on the function billing-export). Its event ID is
// unique to n.
func RareRecord(n uint64, t time.Time) []byte {
	c := rareCalls[n%uint64(len(rareCalls))]
	user := fmt.Sprintf("contractor-%03d", n%RareUsers)
	return fmt.Appendf(nil, `{"eventVersion":"1.09","userIdentity":{"type":"IAMUser","principalId":"AIDARARE%012d","arn":"arn:aws:iam::%s:user/%s","accountId":"%s","accessKeyId":"AKIARARE%012d","userName":"%s"},"eventTime":"%s","eventSource":"%s","eventName":"%s","awsRegion":"eu-west-1","sourceIPAddress":"192.0.2.%d","userAgent":"aws-cli/2.17.13 md/awscrt#0.20.11 ua/2.0 os/linux#6.1.0 md/arch#x86_64 lang/python#3.11.9","requestParameters":%s,"responseElements":null,"requestID":"9a3e1b7c-0d2f-4a6e-8b15-%012x","eventID":"5ca1ab1e-0000-4000-8000-%012x","readOnly":true,"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"%s","eventCategory":"Management"}`,
		n%RareUsers, RareAccount, user, RareAccount, n%RareUsers, user, t.UTC().Format(time.RFC3339), c.source, c.name,
		n%RareIPs+1, c.params, n, n, RareAccount)
}
