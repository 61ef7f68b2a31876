// Package cli implements the vigil command line. Run is the whole program:
// main calls it, and tests call it directly with their own streams.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"

	"github.com/spf13/cobra"
)

// Exit codes.
const (
	ExitOK      = 0 // the operation ran and found nothing wrong
	ExitFailure = 1 // the operation ran and found a failure, e.g. a record that did not decode
	ExitUsage   = 2 // bad flags, arguments or configuration
)

// Set at build time with -ldflags "-X github.com/vigil-sec/vigil/internal/cli.version=...".
var (
	version = ""
	commit  = ""
)

// usageError is a mistake in how vigil was called.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// errFailed means the command ran and has already told the user what
// failed; it only sets the exit code.
var errFailed = errors.New("failed")

// streams are the command's standard streams.
type streams struct {
	in          io.Reader
	out, errOut io.Writer
}

// Main runs vigil as a process: with the process's arguments and standard
// streams, and a context cancelled by SIGINT or SIGTERM.
func Main() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return Run(ctx, os.Args, os.Stdin, os.Stdout, os.Stderr)
}

// Run runs vigil with args (args[0] is the program name) and returns the
// exit code.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	s := &streams{in: stdin, out: stdout, errOut: stderr}
	root := newRoot(s)
	if len(args) > 0 {
		args = args[1:]
	}
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	switch {
	case err == nil:
		return ExitOK
	case errors.Is(err, errFailed):
		return ExitFailure
	}
	fmt.Fprintf(stderr, "vigil: %v\n", err)
	var ue usageError
	if errors.As(err, &ue) || isCobraUsage(err) {
		return ExitUsage
	}
	return ExitFailure
}

// isCobraUsage reports whether err came from cobra's own flag and argument
// checks, which do not have types of their own.
func isCobraUsage(err error) bool {
	var fe *flagError
	return errors.As(err, &fe)
}

// flagError wraps cobra's flag parsing errors so that they map to
// ExitUsage.
type flagError struct{ err error }

func (e *flagError) Error() string { return e.err.Error() }
func (e *flagError) Unwrap() error { return e.err }

func newRoot(s *streams) *cobra.Command {
	root := &cobra.Command{
		Use:   "vigil",
		Short: "Security monitoring and incident response for serverless deployments",
		Long: `Vigil ingests AWS CloudTrail and CloudWatch/Lambda logs, Azure Monitor logs and
Google Cloud audit logs, detects attacks on serverless functions with Sigma rules,
and helps responders run incidents from detection to review.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &flagError{err} })
	root.AddCommand(newVersionCmd(s), newDecodeCmd(s), newHuntCmd(s), newRulesCmd(s), newServeCmd(s), newConfigCmd(s))
	root.AddCommand(clientCommands(s)...)
	return root
}

// positional wraps an argument validator so its errors map to ExitUsage.
func positional(v cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := v(cmd, args); err != nil {
			return usageError{fmt.Errorf("%s: %w", cmd.CommandPath(), err)}
		}
		return nil
	}
}

func newVersionCmd(s *streams) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, commit and Go version",
		Args:  positional(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			v, c := buildInfo()
			fmt.Fprintf(s.out, "vigil %s\ncommit %s\n%s %s/%s\n", v, c, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return nil
		},
	}
}

// buildInfo returns the version and commit set at link time, falling back
// to what the Go toolchain recorded.
func buildInfo() (ver, rev string) {
	ver, rev = version, commit
	if bi, ok := debug.ReadBuildInfo(); ok {
		if ver == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			ver = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && rev == "" {
				rev = s.Value
			}
		}
	}
	if ver == "" {
		ver = "dev"
	}
	if rev == "" {
		rev = "unknown"
	}
	return ver, rev
}
