// memcached: the same token for every instance, through memcached.
//
//	go run ./examples/memcache -servers 127.0.0.1:11211
package main

import (
	"context"
	"flag"
	"log"
	"strings"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	memcachebackend "github.com/wxtoken/wxtoken/backends/memcache"
	"github.com/wxtoken/wxtoken/core"
	"github.com/wxtoken/wxtoken/examples/internal/demo"
)

func main() {
	servers := flag.String("servers", "127.0.0.1:11211", "memcached servers, comma-separated")
	flag.Parse()
	mc := memcache.New(strings.Split(*servers, ",")...)
	mc.Timeout = time.Second
	if err := mc.Ping(); err != nil {
		log.Fatalf("memcached at %s: %v", *servers, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	core.SetCache(memcachebackend.New(mc))
	demo.Run(ctx, core.Default())
}
