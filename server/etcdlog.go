package server

import (
	"context"
	"log/slog"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// etcdLogger is a zap logger for the etcd client that writes through l:
// its own messages (retries, lost connections) become lines of the
// server's log, in its format, marked source=etcd-client, instead of
// being dropped (or, with zap's default, written as another format to
// stderr).
func etcdLogger(l *slog.Logger) *zap.Logger {
	if l == nil {
		return zap.NewNop()
	}
	return zap.New(slogCore{l: l.With("source", "etcd-client")})
}

// slogCore is a zapcore.Core that hands each entry to a slog.Logger.
type slogCore struct {
	l      *slog.Logger
	fields []zapcore.Field
}

func slogLevel(lvl zapcore.Level) slog.Level {
	switch {
	case lvl <= zapcore.DebugLevel:
		return slog.LevelDebug
	case lvl == zapcore.InfoLevel:
		return slog.LevelInfo
	case lvl == zapcore.WarnLevel:
		return slog.LevelWarn
	default:
		return slog.LevelError
	}
}

func (c slogCore) Enabled(lvl zapcore.Level) bool {
	return c.l.Enabled(context.Background(), slogLevel(lvl))
}

func (c slogCore) With(fields []zapcore.Field) zapcore.Core {
	return slogCore{l: c.l, fields: append(append([]zapcore.Field(nil), c.fields...), fields...)}
}

func (c slogCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c slogCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range append(append([]zapcore.Field(nil), c.fields...), fields...) {
		f.AddTo(enc)
	}
	attrs := make([]slog.Attr, 0, len(enc.Fields)+1)
	if e.LoggerName != "" {
		attrs = append(attrs, slog.String("logger", e.LoggerName))
	}
	for k, v := range enc.Fields {
		attrs = append(attrs, slog.Any(k, v))
	}
	c.l.LogAttrs(context.Background(), slogLevel(e.Level), "etcd client: "+e.Message, attrs...)
	return nil
}

func (slogCore) Sync() error { return nil }
