// Package examples embeds the example logs of one simulated attack on a
// serverless estate (described in README.md here), which `vigil serve
// --demo` feeds through the real ingest path.
package examples

import "embed"

// FS holds the example log files under logs/aws, logs/azure and logs/gcp.
//
//go:embed logs
var FS embed.FS
