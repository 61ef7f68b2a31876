package gcp

import (
	"testing"

	"github.com/vigil-sec/vigil/internal/source/sourcetest"
)

func BenchmarkGcloudRead(b *testing.B) {
	sourcetest.BenchmarkFile(b, Decoder, "testdata/gcloud-read.json")
}

func BenchmarkPubSubPush(b *testing.B) {
	sourcetest.BenchmarkFile(b, PubSubDecoder, "testdata/pubsub-push.json")
}
