// Command wxtoken runs the central token server (serve), a simulator of
// the WeChat and WeCom token endpoints (sim), a one-shot token fetch
// (token), a check of a config against its stores and upstream (check),
// and the tenant commands (tenants). The fleet proof with fault injection
// is a tool of its own, wxtoken-farm (module tools/farm), which this
// binary does not link.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signalContext()
	defer stop()
	if err := newRoot().ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "wxtoken:", err)
		os.Exit(1)
	}
}

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "wxtoken",
		Short:         "Keep WeChat and WeCom credentials alive for a fleet",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newServeCmd(), newSimCmd(), newTokenCmd(), newVersionCmd(), newCheckCmd(), newTenantsCmd(), newQuotaCmd(), newRidCmd())
	return root
}

// signalContext ends on SIGINT or SIGTERM, for a graceful shutdown.
func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}
