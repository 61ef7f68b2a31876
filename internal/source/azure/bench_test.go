package azure

import (
	"testing"

	"github.com/vigil-sec/vigil/internal/source/sourcetest"
)

func BenchmarkActivityExport(b *testing.B) {
	sourcetest.BenchmarkFile(b, Decoder, "testdata/activity-diagnostic.json")
}

func BenchmarkFunctionAppLogs(b *testing.B) {
	sourcetest.BenchmarkFile(b, Decoder, "testdata/functionapp-logs.json")
}

func BenchmarkEventGrid(b *testing.B) {
	sourcetest.BenchmarkFile(b, EventGridDecoder, "testdata/eventgrid.json")
}
