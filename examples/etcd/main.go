// etcd: the same token for every instance, through an etcd cluster.
//
//	go run ./examples/etcd -endpoints 127.0.0.1:2379
package main

import (
	"context"
	"flag"
	"log"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	etcdbackend "github.com/wxtoken/wxtoken/backends/etcd"
	"github.com/wxtoken/wxtoken/core"
	"github.com/wxtoken/wxtoken/examples/internal/demo"
)

func main() {
	endpoints := flag.String("endpoints", "127.0.0.1:2379", "etcd endpoints, comma-separated")
	flag.Parse()
	cli, err := clientv3.New(clientv3.Config{Endpoints: strings.Split(*endpoints, ","), DialTimeout: 5 * time.Second})
	if err != nil {
		log.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	core.SetCache(etcdbackend.New(cli))
	demo.Run(ctx, core.Default())
}
