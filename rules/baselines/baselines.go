// Package baselines embeds Vigil's built-in baseline rules: rate spikes and
// first-seen behaviour for serverless workloads, each with test cases in a
// *.tests.baseline file beside it. The rules are read by package
// internal/detect/baseline; docs/baselines.md describes the format.
package baselines

import "embed"

// FS holds the rule files and their tests.
//
//go:embed *.baseline
var FS embed.FS
