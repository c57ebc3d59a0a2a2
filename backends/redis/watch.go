package redisbackend

import (
	"context"
	"sync"

	"github.com/redis/go-redis/v9"

	"github.com/wxtoken/wxtoken/internal/ctxerr"
	"github.com/wxtoken/wxtoken/internal/watch"
	"github.com/wxtoken/wxtoken/store"
)

var _ store.Watcher = (*Backend)(nil)

// writtenChannel is the Pub/Sub channel (after the backend's key prefix)
// on which every write publishes the key it wrote. Classic Pub/Sub, so a
// Redis Cluster delivers it to subscribers on any node.
const writtenChannel = "wxtoken:written"

// watchers is a Backend's subscription to its written channel: opened by
// the first Watch, shared by every waiter of the process, closed when the
// last one stops. Nodes subscribe only while they wait for a token.
type watchers struct {
	mu  sync.Mutex // guards ps; held while subscribing
	ps  *redis.PubSub
	hub watch.Hub
}

func (b *Backend) channel() string { return b.prefix + writtenChannel }

// Watch implements store.Watcher through Redis Pub/Sub: every Set and every
// fenced write also publishes the key on one channel, and the process's
// waiters share one subscription to it while any of them waits. Watch
// returns once Redis confirmed the subscription.
func (b *Backend) Watch(ctx context.Context, key string) (<-chan struct{}, func(), error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	w := &b.watchers
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ps == nil {
		ps := b.rdb.Subscribe(ctx, b.channel())
		if _, err := ps.Receive(ctx); err != nil {
			_ = ps.Close()
			return nil, nil, ctxerr.First(ctx, err)
		}
		w.ps = ps
		go w.dispatch(ps.Channel())
	}
	ch, remove := w.hub.Add(key)
	return ch, func() {
		remove()
		w.mu.Lock()
		defer w.mu.Unlock()
		if w.hub.Len() == 0 && w.ps != nil {
			_ = w.ps.Close()
			w.ps = nil
		}
	}, nil
}

// dispatch wakes the waiters of each key published, until the
// subscription is closed.
func (w *watchers) dispatch(msgs <-chan *redis.Message) {
	for m := range msgs {
		w.hub.Signal(m.Payload)
	}
}
