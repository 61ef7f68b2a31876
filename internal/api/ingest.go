package api

import (
	"bytes"
	"net/http"
	"slices"
	"strings"

	"github.com/vigil-sec/vigil/internal/jsondoc"
	"github.com/vigil-sec/vigil/internal/source"
	"github.com/vigil-sec/vigil/internal/source/azure"
	"github.com/vigil-sec/vigil/internal/source/cloudwatch"
	"github.com/vigil-sec/vigil/internal/source/gcp"
)

// Kinds of the dedicated ingest endpoints.
const (
	kindFirehose  = "firehose"
	kindPubSub    = "pubsub"
	kindEventGrid = "eventgrid"
)

// ingest serves POST /api/v1/ingest/{kind}.
func (s *server) ingest(c *call) error {
	kind := c.r.PathValue("kind")
	if !slices.Contains(s.kinds, kind) {
		return errorf(http.StatusNotFound, codeUnknownKind, "unknown source kind %q: use one of %s", truncate(kind, 64), strings.Join(s.kinds, ", "))
	}
	res, err := s.ingestBody(c, kind)
	if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusAccepted, res)
	return nil
}

// ingestBody reads the body and hands it to the backend.
func (s *server) ingestBody(c *call, kind string) (IngestResult, error) {
	body, release, err := s.readIngestBody(c)
	if err != nil {
		return IngestResult{}, err
	}
	defer release()
	return s.ingestBytes(c, kind, body)
}

func (s *server) ingestBytes(c *call, kind string, body []byte) (IngestResult, error) {
	res, err := s.b.Ingest(c.ctx(), kind, body)
	if err != nil {
		return IngestResult{}, err
	}
	if res.Rejected == nil {
		res.Rejected = []Rejection{}
	}
	if len(res.Rejected) > 0 {
		s.log.Info("ingest rejected records", append([]any{"request_id", c.id, "kind", kind,
			"accepted", res.Accepted, "rejected", len(res.Rejected), "first_error", redactTokens(truncate(res.Rejected[0].Error, 256))}, c.logAttrs...)...)
	}
	return res, nil
}

// Amazon Data Firehose HTTP endpoint delivery: the access key comes in
// X-Amz-Firehose-Access-Key, and every response, success or not, is JSON
// repeating the request ID with a timestamp in milliseconds; errors add
// errorMessage. Firehose retries a request that gets anything but 200.

// firehoseResponse is the body Firehose expects.
type firehoseResponse struct {
	RequestID    string `json:"requestId"`
	Timestamp    int64  `json:"timestamp"`
	ErrorMessage string `json:"errorMessage,omitempty"`
}

// firehoseHeaderID returns the X-Amz-Firehose-Request-Id header if it is of
// a sane length.
func firehoseHeaderID(r *http.Request) string {
	id := r.Header.Get("X-Amz-Firehose-Request-Id")
	if len(id) > 256 {
		return ""
	}
	return id
}

// ingestFirehose serves POST /api/v1/ingest/firehose.
func (s *server) ingestFirehose(c *call) error {
	body, release, err := s.readIngestBody(c)
	if err != nil {
		return err
	}
	defer release()
	if c.firehoseID == "" {
		var doc jsondoc.Doc
		doc.SetLimits(jsondoc.Limits{MaxDepth: source.MaxDepth})
		if doc.Parse(body) == nil {
			if id := cloudwatch.FirehoseRequestID(doc.Root()); len(id) <= 256 {
				c.firehoseID = id
			}
		}
	}
	if c.firehoseID != "" {
		c.logAttrs = append(c.logAttrs, "firehose_request_id", c.firehoseID)
	}
	if _, err := s.ingestBytes(c, kindFirehose, body); err != nil {
		return err
	}
	// Records that did not decode are reported in the log; retrying the
	// batch would not help them, so the delivery succeeds.
	s.writeFirehose(c, http.StatusOK, "")
	return nil
}

func (s *server) writeFirehose(c *call, status int, errMsg string) {
	writeJSON(c.w, status, firehoseResponse{RequestID: c.firehoseID, Timestamp: s.now().UnixMilli(), ErrorMessage: errMsg})
}

// ingestPubSub serves POST /api/v1/ingest/pubsub, a Pub/Sub push
// subscription's endpoint. Pub/Sub acks on 102, 200, 201, 202 and 204 and
// retries anything else; a 400 for a body that is not a push message at
// all lets the subscription's dead-letter policy take it.
func (s *server) ingestPubSub(c *call) error {
	body, release, err := s.readIngestBody(c)
	if err != nil {
		return err
	}
	defer release()
	res, err := s.ingestBytes(c, kindPubSub, body)
	if err != nil {
		var doc jsondoc.Doc
		doc.SetLimits(jsondoc.Limits{MaxDepth: source.MaxDepth})
		if doc.Parse(body) == nil {
			if id := gcp.MessageID(doc.Root()); id != "" && len(id) <= 256 {
				c.logAttrs = append(c.logAttrs, "pubsub_message_id", id)
			}
		}
		return err
	}
	writeJSON(c.w, http.StatusAccepted, res)
	return nil
}

// validationEventType marks an Event Grid subscription validation event.
var validationEventType = []byte("Microsoft.EventGrid.SubscriptionValidationEvent")

// ingestEventGrid serves POST /api/v1/ingest/eventgrid. A subscription
// validation event is answered with its code instead of being ingested.
func (s *server) ingestEventGrid(c *call) error {
	body, release, err := s.readIngestBody(c)
	if err != nil {
		return err
	}
	defer release()
	if bytes.Contains(body, validationEventType) {
		var doc jsondoc.Doc
		doc.SetLimits(jsondoc.Limits{MaxDepth: source.MaxDepth})
		if doc.Parse(body) == nil {
			if code, ok := azure.ValidationCode(doc.Root()); ok {
				s.log.Info("Event Grid subscription validated", "request_id", c.id, "token_name", c.who.name)
				writeJSON(c.w, http.StatusOK, struct {
					ValidationResponse string `json:"validationResponse"`
				}{code})
				return nil
			}
		}
	}
	res, err := s.ingestBytes(c, kindEventGrid, body)
	if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusAccepted, res)
	return nil
}

// eventGridHandshake serves OPTIONS /api/v1/ingest/eventgrid, the
// CloudEvents webhook validation handshake that Event Grid performs before
// delivering CloudEvents.
func (s *server) eventGridHandshake(c *call) error {
	origin := c.r.Header.Get("WebHook-Request-Origin")
	if !saneOrigin(origin) {
		return invalidf("a CloudEvents webhook handshake needs a WebHook-Request-Origin header holding a host name")
	}
	h := c.w.Header()
	h.Set("WebHook-Allowed-Origin", origin)
	h.Set("WebHook-Allowed-Rate", "*")
	h.Set("Allow", "OPTIONS, POST")
	c.w.WriteHeader(http.StatusOK)
	return nil
}

// saneOrigin reports whether a handshake origin looks like a host name.
func saneOrigin(o string) bool {
	if o == "" || len(o) > 253 {
		return false
	}
	for _, c := range o {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == ':') {
			return false
		}
	}
	return true
}
