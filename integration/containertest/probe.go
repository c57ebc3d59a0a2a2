package containertest

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/testcontainers/testcontainers-go/wait"
)

// probe is a wait strategy that speaks the server's protocol: with Docker's
// port proxy, the host port accepts connections before the server inside
// listens, so an open port proves nothing.
type probe struct {
	port  string
	check func(ctx context.Context, addr string) error
}

func (p probe) WaitUntilReady(ctx context.Context, target wait.StrategyTarget) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var last error
	for {
		host, err := target.Host(ctx)
		if err == nil {
			mapped, err := target.MappedPort(ctx, p.port)
			if err == nil {
				if last = p.check(ctx, net.JoinHostPort(host, mapped.Port())); last == nil {
					return nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s never answered: %v (last: %v)", p.port, ctx.Err(), last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// textProbe sends a line of a text protocol and expects a reply that
// starts with want.
func textProbe(port, send, want string) probe {
	return probe{port: port, check: func(ctx context.Context, addr string) error {
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return err
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(2 * time.Second))
		if _, err := conn.Write([]byte(send)); err != nil {
			return err
		}
		line, err := bufio.NewReader(conn).ReadString('\n')
		if err != nil {
			return err
		}
		if !strings.HasPrefix(line, want) {
			return fmt.Errorf("answered %q", line)
		}
		return nil
	}}
}
