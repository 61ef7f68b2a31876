// Package rules embeds Vigil's built-in Sigma rule pack: serverless
// detections for AWS, Azure and Google Cloud, each with test cases in a
// *.tests.yml file beside it.
package rules

import "embed"

// FS holds the rule files and their tests, under aws/, azure/, gcp/ and
// platform/.
//
//go:embed aws azure gcp platform
var FS embed.FS
