package etcdbackend

import (
	"context"
	"errors"
	"sync"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/wxtoken/wxtoken/internal/ctxerr"
	"github.com/wxtoken/wxtoken/store"
)

var _ store.Watcher = (*Backend)(nil)

// errWatchClosed is returned when etcd ends a watch before confirming it.
var errWatchClosed = errors.New("etcd: watch closed before it was created")

// Watch implements store.Watcher with etcd's watch API: each put of the key
// (a Set or a fenced write) sends a notice. The client multiplexes every
// watch over one stream; Watch returns once etcd confirmed this one.
func (b *Backend) Watch(ctx context.Context, key string) (<-chan struct{}, func(), error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	wch := b.cli.Watch(wctx, b.prefix+key, clientv3.WithCreatedNotify(), clientv3.WithFilterDelete())
	select {
	case resp, ok := <-wch:
		if !ok {
			cancel()
			return nil, nil, errWatchClosed
		}
		if err := resp.Err(); err != nil {
			cancel()
			return nil, nil, err
		}
	case <-ctx.Done():
		cancel()
		return nil, nil, ctxerr.First(ctx, ctx.Err())
	}
	notices := make(chan struct{}, 1)
	var done sync.WaitGroup
	done.Go(func() {
		for resp := range wch {
			if len(resp.Events) == 0 {
				continue
			}
			select {
			case notices <- struct{}{}:
			default:
			}
		}
	})
	var once sync.Once
	return notices, func() {
		once.Do(func() {
			cancel()
			done.Wait()
		})
	}, nil
}
