package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/wxtoken/wxtoken/server"
)

// appFlags are the flags of the commands that act on one app of a
// config: the tenants subcommands, quota and rid.
type appFlags struct {
	config  string
	app     string
	timeout time.Duration
}

// bind adds the flags to cmd; appHelp says which apps it takes.
func (f *appFlags) bind(cmd *cobra.Command, appHelp string, timeout time.Duration) {
	fl := cmd.Flags()
	fl.StringVar(&f.config, "config", "", "the server's config file (required)")
	fl.StringVar(&f.app, "app", "", appHelp+" (required)")
	fl.DurationVar(&f.timeout, "timeout", timeout, "how long the command may take in all")
	_ = cmd.MarkFlagRequired("config")
	_ = cmd.MarkFlagRequired("app")
}

// bindTenants binds the flags of a tenants subcommand.
func (f *appFlags) bindTenants(cmd *cobra.Command) {
	f.bind(cmd, "the suite or component app", 5*time.Minute)
}

func newTenantsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tenants",
		Short: "List, back up, restore, recover and reseal a suite's or component's tenants",
		Long: `Work on the tenants of a suite or component app in the state store a
config names, while the fleet runs or not: every change is made under the
registry's lock, as a serving instance makes it.

  list     the tenants the registry holds
  export   a sealed backup (no plaintext secret): permanent codes, refresh tokens, removals
  import   merge a backup back, idempotent: nothing newer in the store is replaced
  recover  an Open Platform component's authorizers, from api_get_authorizer_list
  reseal   rewrite every secret with the newest key of the tenant key ring
  remove   remove a tenant, as a signed cancel_auth or unauthorized would`,
	}
	cmd.AddCommand(newTenantsListCmd(), newTenantsExportCmd(), newTenantsImportCmd(), newTenantsRecoverCmd(),
		newTenantsResealCmd(), newTenantsRemoveCmd())
	return cmd
}

// withTenants opens the config's server (no serving, no upstream call),
// reads app's whole registry, and runs f.
func withTenants(ctx context.Context, stderr io.Writer, f appFlags, run func(ctx context.Context, srv *server.Server) error) error {
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	cfg, err := server.LoadConfig(f.config)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv, err := server.New(cfg, server.WithLogger(log))
	if err != nil {
		return err
	}
	defer srv.Close()
	if err := srv.LoadTenants(ctx, f.app); err != nil {
		return err
	}
	return run(ctx, srv)
}

func newTenantsListCmd() *cobra.Command {
	var f appFlags
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the tenants the registry holds",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withTenants(cmd.Context(), cmd.ErrOrStderr(), f, func(ctx context.Context, srv *server.Server) error {
				list, err := srv.Tenants(f.app)
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "TENANT\tNAME\tADDED")
				for _, t := range list {
					fmt.Fprintf(tw, "%s\t%s\t%s\n", t.ID, t.Name, t.AddedAt.Format(time.RFC3339))
				}
				return tw.Flush()
			})
		},
	}
	f.bindTenants(cmd)
	return cmd
}

func newTenantsExportCmd() *cobra.Command {
	var f appFlags
	var out string
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Write a sealed backup of the tenants (to --out, or standard output)",
		Long: `Write a sealed backup of an app's tenants: every registry record
(removals included, so that an import does not bring back a tenant removed
before the backup; the registry keeps a removal 30 days, so do not import
a backup older than that),
every corp's permanent code and every authorizer's refresh token. Secrets
are sealed with the newest key of the tenant key ring and bound to the app
and the tenant: the file holds no plaintext secret, and is useless without
the key. Keep one from every day; WeCom cannot list a suite's corps again.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withTenants(cmd.Context(), cmd.ErrOrStderr(), f, func(ctx context.Context, srv *server.Server) error {
				x, err := srv.ExportTenants(ctx, f.app)
				if err != nil {
					return err
				}
				b, err := json.MarshalIndent(x, "", "  ")
				if err != nil {
					return err
				}
				b = append(b, '\n')
				if out == "" {
					_, err = cmd.OutOrStdout().Write(b)
					return err
				}
				if err := writeFileAtomic(out, b); err != nil {
					return err
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "exported %d tenant records of app %s to %s (sealed with key %s)\n", len(x.Tenants), f.app, out, x.KeyID)
				return nil
			})
		},
	}
	f.bindTenants(cmd)
	cmd.Flags().StringVar(&out, "out", "", "write the backup to this file (mode 0600) instead of standard output")
	return cmd
}

func newTenantsImportCmd() *cobra.Command {
	var f appFlags
	var in string
	cmd := &cobra.Command{
		Use:   "import",
		Short: "Merge a backup made by export back into the state store",
		Long: `Merge a backup made by export back into the state store. It is
idempotent: a record lands only where the registry holds nothing newer of
its tenant (a tenant removed or installed again since the backup keeps its
newer record), and a refresh token only where the store holds none or an
older one. Running instances serve the imported tenants at the registry's
next notice (within 5 s on a store without notices). An authorizer's
refresh token in an old backup may have been rotated since: follow with
recover --replace for a component.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, err := os.ReadFile(in)
			if err != nil {
				return err
			}
			var x server.TenantExport
			if err := json.Unmarshal(b, &x); err != nil {
				return fmt.Errorf("%s: not a tenant export: %v", in, err)
			}
			return withTenants(cmd.Context(), cmd.ErrOrStderr(), f, func(ctx context.Context, srv *server.Server) error {
				rep, err := srv.ImportTenants(ctx, f.app, &x)
				fmt.Fprintf(cmd.OutOrStdout(), "imported %d tenant records and %d refresh tokens into app %s\n", rep.Records, rep.RefreshTokens, f.app)
				return err
			})
		},
	}
	f.bindTenants(cmd)
	cmd.Flags().StringVar(&in, "in", "", "the backup file (required)")
	_ = cmd.MarkFlagRequired("in")
	return cmd
}

func newTenantsRecoverCmd() *cobra.Command {
	var f appFlags
	var replace bool
	cmd := &cobra.Command{
		Use:   "recover",
		Short: "Recover a component's authorizers from the Open Platform",
		Long: `Ask the Open Platform for every account authorized to a component
(api_get_authorizer_list) and add the ones the registry does not hold,
with their refresh tokens where the state store holds none (with
--replace, over the stored ones too: for a chain the store broke). The
fleet does this by itself when it finds the registry missing with no
instance holding it. WeCom cannot list a suite's corps: import an export.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withTenants(cmd.Context(), cmd.ErrOrStderr(), f, func(ctx context.Context, srv *server.Server) error {
				rep, err := srv.RecoverTenants(ctx, f.app, replace)
				if err != nil {
					return err
				}
				w := cmd.OutOrStdout()
				fmt.Fprintf(w, "listed %d, added %d, refresh tokens written %d\n", rep.Listed, rep.Added, rep.RefreshTokens)
				for _, id := range rep.NoRefreshToken {
					fmt.Fprintf(w, "%s: listed without a refresh token and none stored: it must authorize again\n", id)
				}
				for _, id := range rep.RemovedSince {
					fmt.Fprintf(w, "%s: removed after it authorized; left removed\n", id)
				}
				return nil
			})
		},
	}
	f.bindTenants(cmd)
	cmd.Flags().BoolVar(&replace, "replace", false, "write upstream's refresh tokens over the stored ones")
	return cmd
}

func newTenantsResealCmd() *cobra.Command {
	var f appFlags
	cmd := &cobra.Command{
		Use:   "reseal",
		Short: "Rewrite every tenant secret with the newest key of the tenant key ring",
		Long: `Rotate the tenant key in two steps, so that no instance meets a seal it
cannot open: first give every instance the ring "OLD NEW" (the old key
still seals) and restart them all; then "NEW OLD" (the new key seals) and
restart them all; run reseal for each suite and component app; and drop
the old key once it reports no error and a new export is taken.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withTenants(cmd.Context(), cmd.ErrOrStderr(), f, func(ctx context.Context, srv *server.Server) error {
				rep, err := srv.ResealTenants(ctx, f.app)
				fmt.Fprintf(cmd.OutOrStdout(), "resealed %d permanent codes and %d refresh tokens of app %s with key %s\n", rep.Records, rep.RefreshTokens, f.app, rep.KeyID)
				return err
			})
		},
	}
	f.bindTenants(cmd)
	return cmd
}

func newTenantsRemoveCmd() *cobra.Command {
	var f appFlags
	cmd := &cobra.Command{
		Use:   "remove TENANT",
		Short: "Remove a tenant for the whole fleet",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withTenants(cmd.Context(), cmd.ErrOrStderr(), f, func(ctx context.Context, srv *server.Server) error {
				if err := srv.RemoveTenant(ctx, f.app, args[0]); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "removed tenant %s of app %s\n", args[0], f.app)
				return nil
			})
		},
	}
	f.bindTenants(cmd)
	return cmd
}

// writeFileAtomic writes b to path (mode 0600) through a temporary file
// renamed over it, so a crash never leaves half a backup.
func writeFileAtomic(path string, b []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	f, err := os.Open(tmp)
	if err == nil {
		err = f.Sync()
		f.Close()
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
}
