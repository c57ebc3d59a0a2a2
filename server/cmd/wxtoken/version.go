package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/wxtoken/wxtoken/server"
)

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, the Go version and the source revision it was built from",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			printVersion(cmd.OutOrStdout(), server.ReadBuildInfo())
			return nil
		},
	}
}

// printVersion writes the build info: the module version (as go install
// @version records it, "(devel)" in a checkout), Go's version, and the
// VCS revision, time and dirty flag, or how to have them recorded.
func printVersion(w io.Writer, b server.BuildInfo) {
	fmt.Fprintf(w, "wxtoken  %s\n", b.Version)
	fmt.Fprintf(w, "go       %s\n", b.GoVersion)
	if b.Revision == "" {
		fmt.Fprintln(w, "revision unknown: this build recorded none (go build -buildvcs=true in a checkout records it)")
		return
	}
	fmt.Fprintf(w, "revision %s\n", b.Revision)
	fmt.Fprintf(w, "time     %s\n", b.Time)
	fmt.Fprintf(w, "modified %t\n", b.Modified)
}
