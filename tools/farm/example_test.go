package farm_test

import (
	"context"
	"fmt"
	"time"

	"github.com/wxtoken/wxtoken/tools/farm"
)

// A small farm: four nodes sharing the in-process store, against the
// built-in simulator, through three lifetimes of 2 s tokens, with the
// node holding the refresh lock killed after the first lifetime. The
// fleet must keep every business call working and ask upstream no more
// than its allowance.
func ExampleRun() {
	rep, _, err := farm.Run(context.Background(), farm.Config{
		Nodes:    4,
		Workers:  2,
		Lifetime: 2 * time.Second,
		Overlap:  500 * time.Millisecond,
		Duration: 6 * time.Second,
		Faults:   []farm.Fault{{Kind: farm.KillHolder, At: 2 * time.Second}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	c := rep.Credentials[0]
	fmt.Println("failed business calls:", rep.FailedTotal)
	fmt.Println("within the allowance:", c.Billed() <= c.Allowed)
	fmt.Println("nodes killed:", len(rep.Killed))
	// Output:
	// failed business calls: 0
	// within the allowance: true
	// nodes killed: 1
}
