package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/wxtoken/wxtoken/wxsim"
)

type simFlags struct {
	addr       string
	apps       []string
	wecom      []string
	lifetime   time.Duration
	overlap    time.Duration
	dailyLimit int
	tlsCert    string
	tlsKey     string
}

func newSimCmd() *cobra.Command {
	var f simFlags
	cmd := &cobra.Command{
		Use:   "sim",
		Short: "Run a simulator of the WeChat and WeCom token endpoints",
		Long: `Run wxsim, a simulator of the WeChat and WeCom token endpoints, for tests
and offline demos. Point a Source at it with wechat.WithBaseURL, or the
server's upstream base URLs at its address.

Apps are given as appid:secret (official accounts, mini programs) and
corpid:agentid:secret (WeCom apps). Without any, a demo app
wxdemo0000000001:demo-secret is added.

Run one for a whole fleet under test (every instance's upstream pointing
at it). Its admin routes: POST /wxsim/revoke with access_token=T revokes
T (the next business call with it answers 40001); GET /wxsim/stats
answers the upstream calls counted, as JSON; POST /wxsim/reset zeroes
them.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runSim(cmd, f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.addr, "addr", "127.0.0.1:8081", "address to listen on")
	fl.StringSliceVar(&f.apps, "app", nil, "official account or mini program as appid:secret (repeatable)")
	fl.StringSliceVar(&f.wecom, "wecom", nil, "WeCom app as corpid:agentid:secret (repeatable)")
	fl.DurationVar(&f.lifetime, "lifetime", wxsim.DefaultLifetime, "lifetime of every token issued")
	fl.DurationVar(&f.overlap, "overlap", wxsim.DefaultOverlap, "how long a replaced /cgi-bin/token token keeps working")
	fl.IntVar(&f.dailyLimit, "daily-limit", wxsim.DefaultDailyLimit, "daily /cgi-bin/token calls per appid before 45009 (0: none)")
	fl.StringVar(&f.tlsCert, "tls-cert", "", "serve HTTPS with this PEM certificate (chain) file; needs --tls-key")
	fl.StringVar(&f.tlsKey, "tls-key", "", "the PEM private key of --tls-cert")
	return cmd
}

// Demo credentials of the simulator, used when no app is given.
const (
	demoAppID  = "wxdemo0000000001"
	demoSecret = "demo-secret"
)

func buildSim(f simFlags) (*wxsim.Sim, []string, error) {
	sim := wxsim.New(wxsim.WithLifetime(f.lifetime), wxsim.WithOverlap(f.overlap), wxsim.WithDailyLimit(f.dailyLimit))
	var names []string
	if len(f.apps) == 0 && len(f.wecom) == 0 {
		f.apps = []string{demoAppID + ":" + demoSecret}
	}
	for _, a := range f.apps {
		id, secret, ok := strings.Cut(a, ":")
		if !ok || id == "" || secret == "" {
			return nil, nil, fmt.Errorf("--app %q: want appid:secret", a)
		}
		sim.AddApp(id, secret)
		names = append(names, "app "+id)
	}
	for _, w := range f.wecom {
		parts := strings.SplitN(w, ":", 3)
		if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
			return nil, nil, fmt.Errorf("--wecom %q: want corpid:agentid:secret", w)
		}
		sim.AddWeComApp(parts[0], parts[1], parts[2])
		names = append(names, "wecom "+parts[0]+" agent "+parts[1])
	}
	return sim, names, nil
}

func runSim(cmd *cobra.Command, f simFlags) error {
	if (f.tlsCert == "") != (f.tlsKey == "") {
		return errors.New("--tls-cert and --tls-key go together: give both, or neither for plain HTTP")
	}
	sim, names, err := buildSim(f)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", f.addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: sim, ReadHeaderTimeout: 10 * time.Second}
	scheme, serve := "http", func() error { return srv.Serve(ln) }
	if f.tlsCert != "" {
		scheme, serve = "https", func() error { return srv.ServeTLS(ln, f.tlsCert, f.tlsKey) }
	}
	fmt.Fprintf(cmd.OutOrStdout(), "wxsim listening on %s://%s (%s)\n", scheme, ln.Addr(), strings.Join(names, ", "))
	return serveUntilDone(cmd.Context(), srv, serve)
}

// serveUntilDone runs serve until ctx ends, then shuts srv down
// gracefully: requests in flight finish.
func serveUntilDone(ctx context.Context, srv *http.Server, serve func() error) error {
	errc := make(chan error, 1)
	go func() { errc <- serve() }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
