// Command vigil is the Vigil security monitoring and incident-response
// system for serverless deployments.
package main

import (
	"os"

	"github.com/vigil-sec/vigil/internal/cli"
)

func main() { os.Exit(cli.Main()) }
