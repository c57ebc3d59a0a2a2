// Custombackend shows a store of your own plugged into wxtoken. Run its
// test to prove it with the conformance suites every wxtoken backend
// passes:
//
//	go test ./examples/custombackend
//	go run ./examples/custombackend
package main

import (
	"context"
	"time"

	"github.com/wxtoken/wxtoken/core"
	"github.com/wxtoken/wxtoken/examples/internal/demo"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	core.SetCache(NewStore()) // a Cache and a Locker in one value
	demo.Run(ctx, core.Default())
}
