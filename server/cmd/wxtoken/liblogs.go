package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/redis/go-redis/v9"
)

// secondsForDurations writes durations as seconds (a JSON number): a
// time.Duration is otherwise written in nanoseconds (7200000000000 for
// two hours), which no log pipeline reads as a duration.
func secondsForDurations(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		a.Value = slog.Float64Value(a.Value.Duration().Seconds())
	}
	return a
}

// redisLogger sends go-redis's own messages (pool and reconnection
// notices) to the process's logger at warn, instead of its default
// plain-text lines on stderr that break a JSON log.
type redisLogger struct{ l *slog.Logger }

func (r redisLogger) Printf(ctx context.Context, format string, v ...any) {
	r.l.WarnContext(ctx, "redis client: "+strings.TrimSpace(fmt.Sprintf(format, v...)), "source", "go-redis")
}

// routeLibraryLogs makes the libraries that log by themselves log
// through l. go-redis has one logger per process.
func routeLibraryLogs(l *slog.Logger) {
	redis.SetLogger(redisLogger{l})
}
