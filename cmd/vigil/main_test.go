package main

import (
	"os"
	"testing"

	"github.com/vigil-sec/vigil/internal/cli"
)

// TestMain lets tests run the vigil binary as a subprocess: the test binary
// re-executes itself with VIGIL_TEST_MAIN=1 and then behaves as main.
func TestMain(m *testing.M) {
	if os.Getenv("VIGIL_TEST_MAIN") == "1" {
		os.Exit(cli.Main())
	}
	os.Exit(m.Run())
}
