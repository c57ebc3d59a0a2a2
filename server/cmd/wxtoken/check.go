package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/wxtoken/wxtoken/server"
)

type checkFlags struct {
	config   string
	upstream bool
	timeout  time.Duration
}

func newCheckCmd() *cobra.Command {
	var f checkFlags
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Validate a config, check its secrets and cache, and (with --upstream) each app's token",
		Long: `Check a config before serving it: the config is validated as serve
validates it (every mistake named), every secret and client key must be
readable, and the cache must answer. The state store is judged (a Redis
by its persistence and eviction settings): one that loses data fails the
check when suite or component apps keep their tenants in it, unless
accept_volatile_state is set. With --upstream, each app's token is got
once through the shared store, as any node gets it: the fleet's token
when the store holds one (upstream is not asked, and nothing a serving
fleet uses is retired), else one fetched under the fleet lock and
published (one call against the daily quota), so a wrong secret or an
egress IP missing from WeChat's whitelist (errcode 40164) shows before
the server goes live. Not asked when the cache does not answer; suite,
component and corp apps are not asked (their tokens need the ticket
upstream pushes to the callback). Prints a table; exits 1 when anything
failed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runCheck(cmd.Context(), cmd.OutOrStdout(), f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.config, "config", "", "the config file to check (required)")
	fl.BoolVar(&f.upstream, "upstream", false, "also ask upstream for each app's token, once")
	fl.DurationVar(&f.timeout, "timeout", 30*time.Second, "how long the checks may take in all")
	_ = cmd.MarkFlagRequired("config")
	return cmd
}

// errCheckFailed is returned when a check failed; the table says which.
var errCheckFailed = errors.New("check failed")

func runCheck(ctx context.Context, w io.Writer, f checkFlags) error {
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	cfg, err := server.LoadConfig(f.config)
	if err != nil {
		return err
	}
	quiet := server.WithLogger(slog.New(slog.DiscardHandler))
	srv, err := server.New(cfg, quiet) // validates, reads every secret, opens the cache
	if err != nil {
		return err
	}
	defer srv.Close()
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	failed := false
	fmt.Fprintf(tw, "config\t%s\tok\n", f.config)
	cacheFailed := false
	if err := srv.CheckCache(ctx); err != nil {
		failed, cacheFailed = true, true
		fmt.Fprintf(tw, "cache\t%s\tFAILED: %v\n", server.RedactURL(cfg.Cache), err)
	} else {
		fmt.Fprintf(tw, "cache\t%s\tok\n", server.RedactURL(cfg.Cache))
	}
	d, err := srv.CheckState(ctx)
	switch {
	case err != nil:
		failed = true
		fmt.Fprintf(tw, "state\t%s\tFAILED: %v\n", d.Store, err)
	case d.Verdict == server.Durable:
		fmt.Fprintf(tw, "state\t%s\tok: %s\n", d.Store, d.Detail)
	default:
		fmt.Fprintf(tw, "state\t%s\t%s: %s\n", d.Store, d.Verdict, d.Detail)
	}
	switch {
	case f.upstream && cacheFailed:
		// A token fetched without the store would be fetched without the
		// fleet lock, and would retire the fleet's.
		fmt.Fprintf(tw, "apps	-	not asked: the cache did not answer\n")
	case f.upstream:
		// Through the shared store, as any node: the fleet's token when
		// there is one, else one fetched under the fleet lock and
		// published.
		for _, c := range srv.CheckApps(ctx) {
			status := "ok: " + c.Detail
			if !c.OK {
				failed, status = true, "FAILED: "+c.Detail
			}
			fmt.Fprintf(tw, "app %s\t%s\t%s\n", c.App, c.Kind, status)
		}
	}
	_ = tw.Flush()
	if failed {
		return errCheckFailed
	}
	return nil
}
