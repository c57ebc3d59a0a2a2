package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
)

// TestMain doubles as the node processes of --procs: with
// WXTOKEN_FARM_ARGS set, the test binary is wxtoken-farm run with those
// arguments.
func TestMain(m *testing.M) {
	if args := os.Getenv("WXTOKEN_FARM_ARGS"); args != "" {
		root := newRoot()
		root.SetArgs(strings.Fields(args))
		if err := root.ExecuteContext(context.Background()); err != nil {
			fmt.Fprintln(os.Stderr, "wxtoken-farm:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// run runs wxtoken-farm with args in this process and returns its output.
func run(t *testing.T, ctx context.Context, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	root := newRoot()
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	return out.String(), err
}
