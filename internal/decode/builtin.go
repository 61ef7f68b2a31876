package decode

import (
	"github.com/vigil-sec/vigil/internal/source/azure"
	"github.com/vigil-sec/vigil/internal/source/cloudtrail"
	"github.com/vigil-sec/vigil/internal/source/cloudwatch"
	"github.com/vigil-sec/vigil/internal/source/gcp"
	"github.com/vigil-sec/vigil/internal/source/lambda"
)

// Builtin returns the registry of every format Vigil reads, in auto-detection
// order: delivery wrappers first (Firehose, CloudWatch Logs subscriptions,
// Pub/Sub push, Eventarc, Event Grid), then the log formats they carry.
func Builtin() *Registry {
	return NewRegistry(
		cloudwatch.FirehoseDecoder,
		cloudwatch.Decoder,
		gcp.PubSubDecoder,
		gcp.EventarcDecoder,
		azure.EventGridDecoder,
		cloudtrail.Decoder,
		lambda.Decoder,
		azure.Decoder,
		gcp.Decoder,
	)
}
