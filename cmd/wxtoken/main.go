// Command wxtoken runs the wxtoken tools: a simulator of the WeChat token
// endpoints (sim) and a one-shot token fetch (token). The central token
// server (serve) lives in the same binary.
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
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
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
	root.AddCommand(newSimCmd(), newTokenCmd())
	return root
}
