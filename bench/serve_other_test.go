//go:build !linux

package bench

import (
	"os/exec"
	"time"
)

func setDeathSignal(*exec.Cmd) {}

func selfCPU() time.Duration { return 0 }
