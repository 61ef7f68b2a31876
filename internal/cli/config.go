package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/vigil-sec/vigil/internal/config"
)

func newConfigCmd(s *streams) *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Check and print the server configuration"}
	var path string
	print := &cobra.Command{
		Use:   "print [--config vigil.yaml]",
		Short: "Print the configuration in effect, secrets hidden",
		Long: `Print loads the configuration as vigil serve would — defaults, then the file, then
VIGIL_* environment variables — validates it, and prints it as YAML with every secret
shown as <secret>. Every problem is reported with its file, line and column.`,
		Args: positional(cobra.NoArgs),
		RunE: func(*cobra.Command, []string) error {
			cfg, err := config.Load(path)
			if err != nil {
				return usageError{fmt.Errorf("configuration: %w", err)}
			}
			fmt.Fprint(s.out, cfg.Redacted())
			return nil
		},
	}
	print.Flags().StringVar(&path, "config", "", "configuration file (vigil.yaml)")
	cmd.AddCommand(print)
	return cmd
}
