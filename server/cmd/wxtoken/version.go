package main

import (
	"fmt"
	"io"
	"runtime/debug"

	"github.com/spf13/cobra"
)

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, the Go version and the source revision it was built from",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return printVersion(cmd.OutOrStdout())
		},
	}
}

// printVersion writes the build info: the module version (as go install
// @version records it, "(devel)" in a checkout), Go's version, and the
// VCS revision, time and dirty flag when the build recorded them.
func printVersion(w io.Writer) error {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return fmt.Errorf("no build info in this binary")
	}
	fmt.Fprintf(w, "wxtoken %s\n", bi.Main.Version)
	fmt.Fprintf(w, "module   %s\n", bi.Main.Path)
	fmt.Fprintf(w, "go       %s\n", bi.GoVersion)
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision", "vcs.time", "vcs.modified":
			fmt.Fprintf(w, "%-8s %s\n", s.Key[len("vcs."):], s.Value)
		}
	}
	return nil
}
