package cli

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/vigil-sec/vigil/internal/app"
	"github.com/vigil-sec/vigil/internal/config"
)

func newServeCmd(s *streams) *cobra.Command {
	var (
		configPath string
		listen     string
		data       string
		demo       bool
	)
	cmd := &cobra.Command{
		Use:   "serve [--config vigil.yaml] [--listen ADDR] [--data DIR] [--demo]",
		Short: "Run the server: ingest, detection, alerts and the API",
		Long: `Serve runs Vigil: it takes cloud logs over HTTP, stores them durably, runs the rules
on every event within milliseconds, and keeps deduplicated alerts and searchable
events behind an authenticated API.

With no configuration it listens on 127.0.0.1:8717 and keeps its data in ./vigil-data.
Settings come from the defaults, then --config, then VIGIL_* environment variables,
then these flags. On first start it creates an admin token, prints it once and writes
it to <data>/admin-token. SIGHUP reloads the rules and, from the --config file, the
notify section; SIGTERM shuts down gracefully.

--demo also feeds a simulated serverless attack through the ingest API, so that
alerts appear within seconds.`,
		Args: positional(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(configPath)
			if err != nil {
				return usageError{fmt.Errorf("configuration: %w", err)}
			}
			if listen != "" {
				cfg.Server.Listen = listen
			}
			if data != "" {
				cfg.Server.Data = data
			}
			if err := cfg.Validate(); err != nil {
				return usageError{fmt.Errorf("configuration: %w", err)}
			}
			log := newLogger(s, cfg)
			ctx := cmd.Context()
			if os.Getenv("GOMEMLIMIT") == "" {
				// A soft limit makes the garbage collector keep the heap
				// small under bursts of ingest, instead of letting it
				// double; GOMEMLIMIT overrides it.
				debug.SetMemoryLimit(serveMemoryLimit)
			}
			// Take SIGHUP before anything starts, so that a reload
			// requested while the server opens does not end it.
			hup := make(chan os.Signal, 1)
			signal.Notify(hup, syscall.SIGHUP)
			defer signal.Stop(hup)
			srv, err := app.New(ctx, cfg, log, s.errOut)
			if err != nil {
				return err
			}
			if err := srv.Listen(); err != nil {
				return err
			}
			go func() {
				for range hup {
					reload(srv, configPath, log)
				}
			}()
			if demo {
				go runDemo(ctx, s, srv, cfg, log)
			}
			return srv.Run(ctx)
		},
	}
	f := cmd.Flags()
	f.StringVar(&configPath, "config", "", "configuration file (vigil.yaml)")
	f.StringVar(&listen, "listen", "", "address to listen on (default 127.0.0.1:8717)")
	f.StringVar(&data, "data", "", "data directory (default ./vigil-data)")
	f.BoolVar(&demo, "demo", false, "feed a simulated serverless attack through the ingest API")
	return cmd
}

// reload reloads the rules and, when serve runs with a configuration
// file, the notify section of the file. Either reload keeps the running
// settings when the new ones are wrong.
func reload(srv *app.Server, configPath string, log *slog.Logger) {
	if _, err := srv.ReloadRules(); err != nil {
		log.Error("rule reload failed", "err", err)
	}
	if configPath == "" {
		return
	}
	cfg, err := config.Load(configPath)
	if err == nil {
		err = srv.ReloadNotify(cfg)
	}
	if err != nil {
		log.Error("configuration reload failed; the running notification settings stay in place", "err", err)
	}
}

// serveMemoryLimit is the Go runtime's soft memory limit for vigil serve.
const serveMemoryLimit = 200 << 20

func newLogger(s *streams, cfg *config.Config) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.Log.SlogLevel()}
	if cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(s.errOut, opts))
	}
	return slog.New(slog.NewTextHandler(s.errOut, opts))
}

func runDemo(ctx context.Context, s *streams, srv *app.Server, cfg *config.Config, log *slog.Logger) {
	token, err := srv.DemoToken(ctx)
	if err != nil {
		log.Error("demo: creating an ingest token", "err", err)
		return
	}
	base := "http://" + srv.Addr()
	n, err := app.FeedDemo(ctx, base, token, time.Now().UTC())
	if err != nil {
		log.Error("demo: feeding the example attack", "err", err)
		return
	}
	fmt.Fprintf(s.errOut, "\nDemo: fed %d events of a simulated attack through %s/api/v1/ingest. Alerts appear within seconds:\n\n"+
		"  export VIGIL_URL=%s VIGIL_TOKEN=$(cat %s)\n  vigil alerts list\n\n", n, base, base, filepath.Join(cfg.Server.Data, app.AdminTokenFile))
}
