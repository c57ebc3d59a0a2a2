package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"
)

// In JSON mode durations are seconds and go-redis's messages are JSON
// lines of the process's log (they were nanosecond integers and plain
// text).
func TestJSONLogsReadableByPipelines(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{ReplaceAttr: secondsForDurations}))
	l.Info("fetched", "expires_in", 2*time.Hour, "duration", 1500*time.Microsecond)
	redisLogger{l}.Printf(context.Background(), "redis: discarding bad PubSub connection: %v\n", "EOF")
	lines := bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n"))
	if len(lines) != 2 {
		t.Fatalf("want 2 lines:\n%s", buf.String())
	}
	var fetched struct {
		ExpiresIn float64 `json:"expires_in"`
		Duration  float64 `json:"duration"`
	}
	if err := json.Unmarshal(lines[0], &fetched); err != nil || fetched.ExpiresIn != 7200 || fetched.Duration != 0.0015 {
		t.Errorf("durations: %s (%v), want seconds", lines[0], err)
	}
	var fromRedis struct{ Level, Msg, Source string }
	if err := json.Unmarshal(lines[1], &fromRedis); err != nil || fromRedis.Level != "WARN" || fromRedis.Source != "go-redis" ||
		fromRedis.Msg != "redis client: redis: discarding bad PubSub connection: EOF" {
		t.Errorf("go-redis's line: %s (%v)", lines[1], err)
	}
}
