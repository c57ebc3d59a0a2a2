package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/wxtoken/wxtoken/server"
)

// open loads the config and opens a server on it, quiet, without serving:
// the app's token comes through the shared store, as any node gets it.
func (f *appFlags) open(ctx context.Context) (*server.Server, context.Context, func(), error) {
	cfg, err := server.LoadConfig(f.config)
	if err != nil {
		return nil, nil, nil, err
	}
	srv, err := server.New(cfg, server.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		return nil, nil, nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	return srv, ctx, func() { cancel(); srv.Close() }, nil
}

func newQuotaCmd() *cobra.Command {
	var f appFlags
	var paths []string
	cmd := &cobra.Command{
		Use:   "quota",
		Short: "Print upstream's own count of an app's API calls today",
		Long: `Ask upstream (/cgi-bin/openapi/quota/get) for an app's daily limit,
calls today and what remains, for each --path (default /cgi-bin/token).
Upstream counts every caller of the account, not only this fleet. The
app's token is the fleet's, through the shared store. For official
accounts, mini programs, stable apps and Open Platform components (the
component's own count); WeCom has no such tool, and /sns/ APIs are not
counted (errcode 76022).`,
		Example: `  wxtoken quota --config wxtoken.yaml --app shop
  wxtoken quota --config wxtoken.yaml --app shop --path /cgi-bin/message/custom/send`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			srv, ctx, done, err := f.open(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			if len(paths) == 0 {
				paths = []string{"/cgi-bin/token"}
			}
			w := cmd.OutOrStdout()
			for _, p := range paths {
				q, err := srv.Quota(ctx, f.app, p)
				if err != nil {
					return err
				}
				fmt.Fprintf(w, "%s\t%s\tused %d of %d today, %d left (upstream's count)\n", f.app, p, q.Used, q.DailyLimit, q.Remain)
			}
			return nil
		},
	}
	f.bind(cmd, "the app's id in the config", 30*time.Second)
	cmd.Flags().StringArrayVar(&paths, "path", nil, "an API path such as /cgi-bin/token (repeatable)")
	cmd.AddCommand(newQuotaClearCmd())
	return cmd
}

func newQuotaClearCmd() *cobra.Command {
	var f appFlags
	var yes bool
	cmd := &cobra.Command{
		Use:   "clear",
		Short: "Run upstream's clear_quota for an app, after a confirmation",
		Long: `Reset the app's API counts for today with upstream's clear_quota (for a
component app, the component's own). Upstream allows 10 a calendar
month per account, and every use counts: this is an operator's decision,
never automatic. The command says how many the fleet has used this month
(counted in the state store), asks you to type the app's id, and refuses
past 10 without asking upstream. --yes skips the question, for scripts.`,
		Example: `  wxtoken quota clear --config wxtoken.yaml --app shop`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			srv, ctx, done, err := f.open(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			return runQuotaClear(ctx, srv, f.app, yes, cmd.InOrStdin(), cmd.OutOrStdout())
		},
	}
	f.bind(cmd, "the app's id in the config", 30*time.Second)
	cmd.Flags().BoolVar(&yes, "yes", false, "do not ask for confirmation")
	return cmd
}

// errNotConfirmed: the operator did not type the app's id.
var errNotConfirmed = errors.New("not confirmed: nothing was cleared")

func runQuotaClear(ctx context.Context, srv *server.Server, app string, yes bool, in io.Reader, out io.Writer) error {
	used, err := srv.ClearsThisMonth(ctx, app)
	if err != nil {
		return err
	}
	if used >= server.ClearsPerMonth {
		return fmt.Errorf("%w: %d of %d (Beijing calendar month)", server.ErrClearLimit, used, server.ClearsPerMonth)
	}
	if !yes {
		fmt.Fprintf(out, "This resets today's API counts of app %q upstream, using one of its %d clears a month (%d used this month by the fleet's count).\nType the app's id to go on: ",
			app, server.ClearsPerMonth, used)
		line, _ := bufio.NewReader(in).ReadString('\n')
		if strings.TrimSpace(line) != app {
			return errNotConfirmed
		}
	}
	n, err := srv.ClearQuota(ctx, app)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "cleared: app %q's counts start from zero; %d of %d clears used this month\n", app, n, server.ClearsPerMonth)
	return nil
}

func newRidCmd() *cobra.Command {
	var f appFlags
	cmd := &cobra.Command{
		Use:   "rid RID",
		Short: "Ask upstream what happened in a failed call, by the rid its errmsg ended with",
		Long: `Ask upstream (/cgi-bin/openapi/rid/get) for the details of a failed
call of the app: when it was made, how long it took, its query, body and
answer, and the calling address. Only the account that made the call can
ask, within 7 days (errcode 76001 after). Tokens, secrets, tickets and
codes in the answer are blanked.`,
		Example: `  wxtoken rid --config wxtoken.yaml --app shop 61725984-6126f6f9-040f19c4`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			srv, ctx, done, err := f.open(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			info, err := srv.Rid(ctx, f.app, args[0])
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "invoked\t%s (%v)\n", info.InvokeTime.Format(time.RFC3339), info.Cost)
			fmt.Fprintf(w, "client\t%s\n", info.ClientIP)
			fmt.Fprintf(w, "query\t%s\n", info.RequestURL)
			fmt.Fprintf(w, "body\t%s\n", info.RequestBody)
			fmt.Fprintf(w, "answer\t%s\n", info.ResponseBody)
			return nil
		},
	}
	f.bind(cmd, "the app's id in the config", 30*time.Second)
	return cmd
}
