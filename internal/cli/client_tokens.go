package cli

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/vigil-sec/vigil/internal/api"
	"github.com/vigil-sec/vigil/internal/authz"
)

func newTokensCmd(s *streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tokens",
		Short: "Create, list and revoke API tokens (admin only)",
		Long: `Every API request needs a token, and a token has one role:
  viewer     reads alerts, events, silences, rules and stats
  analyst    viewer, and acknowledges and resolves alerts and manages silences
  responder  analyst, and reloads rules
  admin      everything, including tokens
  ingest     only sends log data to the ingest endpoints
Tokens are stored hashed; a token is shown once, when it is created.`,
	}
	return group(cmd, newTokensCreateCmd(s), newTokensListCmd(s), newTokensRevokeCmd(s))
}

func newTokensCreateCmd(s *streams) *cobra.Command {
	var (
		name, role, format string
		ttl                time.Duration
	)
	cmd := &cobra.Command{
		Use:     "create --name NAME --role ROLE [--ttl D]",
		Short:   "Create a token and print it once",
		Example: `  vigil tokens create --name firehose-prod --role ingest --ttl 2160h`,
		Args:    positional(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if strings.TrimSpace(name) == "" {
				return usagef("give --name saying who or what will use the token")
			}
			if !authz.ValidRole(role) {
				return usagef("--role %q: use one of %s", role, strings.Join(authz.Roles(), ", "))
			}
			if ttl < 0 {
				return usagef("--ttl %s: must be positive, or left out for a token that does not expire", ttl)
			}
			a, err := connect(s, format)
			if err != nil {
				return err
			}
			ct, err := a.c.CreateToken(cmd.Context(), name, role, ttl)
			if err != nil {
				return a.fail(err)
			}
			if a.format == "json" {
				return a.json(ct)
			}
			fmt.Fprintln(s.out, ct.Plaintext)
			fmt.Fprintf(s.errOut, "created token %s (%s, role %s, expires %s); store it now: it is not shown again\n",
				cell(ct.ID), cell(ct.Name), ct.Role, fmtTimePtr(ct.ExpiresAt))
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&name, "name", "", "who or what uses the token (required)")
	fl.StringVar(&role, "role", "", "the token's role: "+strings.Join(authz.Roles(), ", ")+" (required)")
	fl.DurationVar(&ttl, "ttl", 0, "how long the token is valid, e.g. 720h (default: no expiry)")
	formatFlag(cmd, &format)
	return cmd
}

func newTokensListCmd(s *streams) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List tokens (never the tokens themselves)",
		Args:  positional(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := connect(s, format)
			if err != nil {
				return err
			}
			toks, err := a.c.ListTokens(cmd.Context())
			if err != nil {
				return a.fail(err)
			}
			if a.format == "json" {
				return a.json(api.TokenList{Tokens: toks})
			}
			rows := make([][]string, 0, len(toks))
			for _, t := range toks {
				rows = append(rows, []string{t.ID, t.Name, t.Role, fmtTime(t.CreatedAt), t.CreatedBy, fmtTimePtr(t.ExpiresAt), fmtTimePtr(t.LastUsed), strconv.FormatBool(t.Revoked)})
			}
			return a.table([]string{"ID", "NAME", "ROLE", "CREATED", "CREATED BY", "EXPIRES", "LAST USED", "REVOKED"}, rows)
		},
	}
	formatFlag(cmd, &format)
	return cmd
}

func newTokensRevokeCmd(s *streams) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "revoke ID...",
		Short: "Revoke tokens by ID",
		Args:  positional(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, ids []string) error {
			for _, id := range ids {
				if strings.HasPrefix(id, authz.TokenPrefix) {
					return usagef("that is a token, not a token ID: revoke by the tok_ ID that vigil tokens list shows")
				}
			}
			a, err := connect(s, format)
			if err != nil {
				return err
			}
			var revoked []string
			err = a.eachID(ids, func(id string) error {
				if err := a.c.RevokeToken(cmd.Context(), id); err != nil {
					return err
				}
				revoked = append(revoked, id)
				if a.format == "table" {
					fmt.Fprintf(s.out, "token %s revoked\n", cell(id))
				}
				return nil
			})
			if a.format == "json" && len(revoked) > 0 {
				if jerr := a.json(struct {
					Revoked []string `json:"revoked"`
				}{revoked}); jerr != nil {
					return jerr
				}
			}
			return err
		},
	}
	formatFlag(cmd, &format)
	return cmd
}
