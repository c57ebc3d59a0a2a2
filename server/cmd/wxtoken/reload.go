package main

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/wxtoken/wxtoken/server"
)

// generation is one Server of a serving process, and the requests it is
// answering: a reload starts a new one and retires the old.
type generation struct {
	srv *server.Server
	// writeTimeout bounds the writing of one answer (writeTimeout).
	writeTimeout time.Duration
	inflight     sync.WaitGroup
	stop         context.CancelFunc // ends its Run
	done         chan struct{}      // closed when its Run returned
}

// startGeneration starts srv's Run and returns its generation.
func startGeneration(ctx context.Context, srv *server.Server, cfg server.Config) *generation {
	ctx, cancel := context.WithCancel(ctx)
	g := &generation{srv: srv, writeTimeout: writeTimeout(cfg), stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(g.done)
		srv.Run(ctx)
	}()
	return g
}

// retire waits for the requests g is answering, then stops its Run and
// closes its Server (releasing its leases).
func (g *generation) retire() error {
	g.inflight.Wait()
	g.stop()
	<-g.done
	return g.srv.Close()
}

// live is the handler of a serving process: each request is answered by
// the generation that was current when it came, to its end.
type live struct {
	mu  sync.RWMutex
	cur *generation
	// writeTimeout is the http.Server's, which it sets on each request
	// itself: a generation with another sets its own.
	writeTimeout time.Duration
}

func (l *live) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	l.mu.RLock()
	g := l.cur
	g.inflight.Add(1) // under the lock: swap's caller waits only after it
	l.mu.RUnlock()
	defer g.inflight.Done()
	// The deadline follows the generation's request_timeout; a
	// connection that cannot take one (none here) keeps the server's.
	if g.writeTimeout != l.writeTimeout {
		_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(g.writeTimeout))
	}
	g.srv.ServeHTTP(w, r)
}

func (l *live) current() *generation {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.cur
}

// swap makes g current and returns the generation it replaced.
func (l *live) swap(g *generation) *generation {
	l.mu.Lock()
	defer l.mu.Unlock()
	old := l.cur
	l.cur = g
	return old
}

// reloader re-reads the config on SIGHUP and, when it is good, moves the
// process to it.
type reloader struct {
	flags  serveFlags
	live   *live
	sim    *builtinSim
	level  *slog.LevelVar
	logger *slog.Logger
	// retiring counts the generations still finishing their requests.
	retiring sync.WaitGroup
}

// run reloads on every signal on hup until ctx ends, then waits for the
// generations it retired.
func (r *reloader) run(ctx context.Context, hup <-chan os.Signal) {
	defer r.retiring.Wait()
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			r.reload(ctx)
		}
	}
}

// reload reads the config again (the same file, flags and environment as
// at start) and serves it, or keeps the running one and logs why not.
// Requests in flight are answered by the Server they reached.
func (r *reloader) reload(ctx context.Context) {
	cur := r.live.current()
	next, cfg, level, err := r.prepare(cur.srv)
	if err != nil {
		r.logger.Error("wxtoken: reload refused; the running config is kept", "err", err)
		return
	}
	old := r.live.swap(startGeneration(ctx, next, cfg))
	r.level.Set(level)
	was, now := old.srv.AppIDs(), next.AppIDs()
	r.logger.Log(ctx, max(level, slog.LevelInfo), "wxtoken: config reloaded", "apps", len(now),
		"added", without(now, was), "removed", without(was, now))
	r.retiring.Go(func() {
		if err := old.retire(); err != nil {
			r.logger.Warn("wxtoken: closing the replaced server", "err", err)
		}
	})
}

// prepare loads and checks the config and builds its Server from cur.
func (r *reloader) prepare(cur *server.Server) (*server.Server, server.Config, slog.Level, error) {
	cfg, err := loadServeConfig(r.flags)
	if err != nil {
		return nil, cfg, 0, err
	}
	level, err := parseLevel(cfg.Log.Level)
	if err != nil {
		return nil, cfg, 0, err
	}
	if err := r.sim.use(&cfg); err != nil {
		return nil, cfg, 0, err
	}
	next, err := cur.Reload(cfg, server.WithLogger(r.logger))
	return next, cfg, level, err
}

// without returns the ids in a that are not in b.
func without(a, b []string) []string {
	out := []string{}
	for _, id := range a {
		if !slices.Contains(b, id) {
			out = append(out, id)
		}
	}
	return out
}
