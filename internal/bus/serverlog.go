package bus

import (
	"fmt"
	"log/slog"
	"sync"

	"github.com/nats-io/nats-server/v2/server"
)

// serverLog adapts the embedded NATS server's logger to slog. Notices, debug
// and trace lines are dropped; warnings and errors are kept, and the last
// error is remembered so a failed start can say why.
type serverLog struct {
	log *slog.Logger

	mu   sync.Mutex
	last string
}

var _ server.Logger = (*serverLog)(nil)

func (l *serverLog) Noticef(string, ...any) {}
func (l *serverLog) Debugf(string, ...any)  {}
func (l *serverLog) Tracef(string, ...any)  {}

func (l *serverLog) Warnf(format string, v ...any) {
	l.log.Warn(fmt.Sprintf(format, v...))
}

func (l *serverLog) Errorf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	l.remember(msg)
	l.log.Error(msg)
}

// Fatalf logs only: an embedded server must not exit the process. Open
// notices the failure through ReadyForConnections or JetStreamEnabled.
func (l *serverLog) Fatalf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	l.remember(msg)
	l.log.Error(msg, "fatal", true)
}

func (l *serverLog) remember(msg string) {
	l.mu.Lock()
	l.last = msg
	l.mu.Unlock()
}

func (l *serverLog) lastError() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.last == "" {
		return "no error was logged"
	}
	return l.last
}
