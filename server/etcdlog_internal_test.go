package server

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken/internal/syncbuf"
)

// The etcd client's own messages are lines of the server's log, in its
// format (JSON here), not dropped and not another format on stderr.
func TestEtcdClientLogsThroughTheServersLog(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	var buf syncbuf.Buffer
	logger := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	st, err := openStore("etcd://"+dead, logger)
	if err != nil {
		t.Fatal(err)
	}
	defer st.closer.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if _, err := st.cache.Get(ctx, "wxtoken-test"); err == nil {
		t.Fatal("a Get from a dead etcd succeeded")
	}
	var lines []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var v map[string]any
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Fatalf("a log line that is not JSON: %q", line)
		}
		if v["source"] == "etcd-client" {
			lines = append(lines, v)
		}
	}
	if len(lines) == 0 {
		t.Fatalf("no line of the etcd client in the log:\n%s", buf.String())
	}
	if msg, _ := lines[0]["msg"].(string); !strings.HasPrefix(msg, "etcd client: ") {
		t.Errorf("the etcd client's line: %v", lines[0])
	}
	t.Logf("%d lines of the etcd client, the first: %v", len(lines), lines[0])
}
