package bus

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// killHelperEnv, when set to a directory, turns this test binary into the
// publisher that TestKill9LosesNothingAcknowledged kills.
const killHelperEnv = "VIGIL_BUS_KILL_HELPER_DIR"

const (
	killBatch     = 200
	killAfterAcks = 15
)

// TestKill9Helper is not a test: run by TestKill9LosesNothingAcknowledged,
// it publishes batches forever and prints "acked <last ID>" after each
// acknowledged one.
func TestKill9Helper(t *testing.T) {
	dir := os.Getenv(killHelperEnv)
	if dir == "" {
		t.Skip("helper process for TestKill9LosesNothingAcknowledged")
	}
	b, err := Open(context.Background(), Options{Dir: dir})
	if err != nil {
		fmt.Println("open failed:", err)
		os.Exit(1)
	}
	for i := 0; ; i++ {
		msgs := makeMsgs(fmt.Sprintf("k%05d", i), killBatch, 1200)
		if _, err := b.Publish(context.Background(), msgs); err != nil {
			fmt.Println("publish failed:", err)
			os.Exit(1)
		}
		// os.Stdout is unbuffered: the line is out before the next batch.
		fmt.Println("acked", msgs[len(msgs)-1].ID)
	}
}

func TestKill9LosesNothingAcknowledged(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestKill9Helper$", "-test.count=1")
	cmd.Env = append(os.Environ(), killHelperEnv+"="+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	t.Cleanup(func() {
		if !killed {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})

	// Every "acked" line names the last message of a batch whose Publish
	// returned nil. Kill the publisher mid-stream, then read what it had
	// already printed.
	var acked []string
	sc := bufio.NewScanner(out)
	timeout := time.AfterFunc(60*time.Second, func() { _ = cmd.Process.Kill() })
	defer timeout.Stop()
	for sc.Scan() {
		line := sc.Text()
		id, ok := strings.CutPrefix(line, "acked ")
		if !ok {
			if strings.HasPrefix(line, "open failed") || strings.HasPrefix(line, "publish failed") {
				t.Fatalf("helper: %s", line)
			}
			continue
		}
		acked = append(acked, id)
		if len(acked) == killAfterAcks && !killed {
			if err := cmd.Process.Kill(); err != nil { // SIGKILL
				t.Fatal(err)
			}
			killed = true
		}
	}
	err = cmd.Wait()
	if !killed {
		t.Fatalf("helper exited before it was killed (%v) after %d batches", err, len(acked))
	}
	t.Logf("killed after %d acknowledged batches of %d", len(acked), killBatch)

	b := openBus(t, Options{Dir: dir})
	lag, err := b.Lag(context.Background(), "verify")
	if err == nil {
		t.Fatalf("consumer exists before the check (lag %d)", lag)
	}
	want := len(acked) * killBatch
	got := collect(t, b, "verify", 1000, want)
	seen := make(map[string]bool, len(got))
	for _, d := range got {
		seen[d.ID] = true
	}
	for _, last := range acked {
		// Every message of an acknowledged batch, not only its last.
		prefix := strings.TrimSuffix(last, fmt.Sprintf("-%04d", killBatch-1))
		for i := range killBatch {
			if id := fmt.Sprintf("%s-%04d", prefix, i); !seen[id] {
				t.Fatalf("acknowledged message %s is missing after kill -9", id)
			}
		}
	}
}
