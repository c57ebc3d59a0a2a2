// File: several processes on one host share tokens through a directory.
// Start it twice at once; only one process calls upstream.
//
//	go run ./examples/file -dir /tmp/wxtoken
package main

import (
	"context"
	"flag"
	"time"

	filebackend "github.com/wxtoken/wxtoken/backends/file"
	"github.com/wxtoken/wxtoken/core"
	"github.com/wxtoken/wxtoken/examples/internal/demo"
)

func main() {
	dir := flag.String("dir", "/tmp/wxtoken", "directory shared by the processes")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	core.SetCache(filebackend.New(*dir))
	demo.Run(ctx, core.Default())
}
