// Command wxtoken-farm builds a fleet of wxtoken nodes on a store, breaks
// it on purpose (a killed lock holder, a paused store, skewed clocks,
// upstream errors, revocations, spurious reports) and reports what
// happened: upstream calls against the ideal, failed business calls,
// latency, lock waits, store operations. It is a tool of its own, apart
// from the server binary:
//
//	go install github.com/wxtoken/wxtoken/tools/farm/cmd/wxtoken-farm@latest
//	wxtoken-farm --start-store redis --lifetime 10s --duration 55s --kill-holder 12s
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
		fmt.Fprintln(os.Stderr, "wxtoken-farm:", err)
		os.Exit(1)
	}
}

// newRoot is the farm command, with its hidden node command.
func newRoot() *cobra.Command {
	root := newFarmCmd()
	root.SilenceUsage, root.SilenceErrors = true, true
	root.AddCommand(newFarmNodeCmd())
	return root
}
