package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/wxtoken/wxtoken/server"
	"github.com/wxtoken/wxtoken/wxsim"
)

// demoEnv are the secrets of the embedded demo config, set when the
// environment does not give them: made-up values for the simulator.
var demoEnv = map[string]string{
	"WXTOKEN_DEMO_SECRET":         demoSecret,
	"WXTOKEN_DEMO_TENANT_KEY":     "ZGVtby10ZW5hbnQta2V5LW5vdC1mb3ItcHJvZHVjdGk=",
	"WXTOKEN_DEMO_CALLBACK_TOKEN": "demo-callback-token",
	"WXTOKEN_DEMO_AES_KEY":        "ZGVtb2RlbW9kZW1vZGVtb2RlbW9kZW1vZGVtb2RlbW8",
}

// Demo tenants the built-in simulator installs, so that the tenant routes
// serve something offline.
const (
	demoCorp       = "wwdemotenant00001"
	demoAuthorizer = "wxdemotenant00001"
)

// builtinSim is the simulator `serve` starts for an upstream "sim". A nil
// *builtinSim (a real upstream) does nothing.
type builtinSim struct {
	sim    *wxsim.Sim
	hs     *http.Server
	url    string
	added  map[string]bool // the accounts registered in sim (use)
	logger *slog.Logger
	wg     sync.WaitGroup
}

// wantsSim reports whether an upstream of cfg is "sim".
func wantsSim(cfg server.Config) bool {
	return cfg.Upstream.WeChat == "sim" || cfg.Upstream.WeCom == "sim"
}

// startSimFor starts the built-in simulator when an upstream is "sim",
// and has it serve cfg (use).
func startSimFor(cfg *server.Config, logger *slog.Logger) (*builtinSim, error) {
	if !wantsSim(*cfg) {
		return nil, nil
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	sim := wxsim.New()
	b := &builtinSim{sim: sim, hs: &http.Server{Handler: sim, ReadHeaderTimeout: 10 * time.Second}, logger: logger,
		url: "http://" + ln.Addr().String(), added: map[string]bool{}}
	go b.hs.Serve(ln)
	if err := b.use(cfg); err != nil {
		b.close()
		return nil, err
	}
	logger.Info("upstream is the built-in WeChat simulator", "url", b.url)
	return b, nil
}

// use registers every app of cfg in the simulator with its configured
// secret, and points cfg's "sim" upstreams at it. A reloaded config uses
// the same simulator, so the tokens it issued stay valid; with no
// simulator running (a nil b), a config that asks for one is refused.
func (b *builtinSim) use(cfg *server.Config) error {
	if !wantsSim(*cfg) {
		return nil
	}
	if b == nil {
		return errors.New(`upstream: "sim" needs a restart when the running config has a real upstream`)
	}
	suites := map[string]string{} // suite app id -> suite_id
	for _, a := range cfg.Apps {
		if a.Kind == server.KindSuite {
			suites[a.ID] = a.SuiteID
		}
		// Registered once: registering a suite or a component again
		// would forget its tickets, installs and callback.
		seen := a.Kind + "/" + a.AppID + a.CorpID + a.AgentID + a.SuiteID
		if b.added[seen] {
			continue
		}
		b.added[seen] = true
		secret, err := server.ReadSecret(a.SecretEnv, a.SecretFile)
		if err != nil {
			return fmt.Errorf("app %s secret: %w", a.ID, err)
		}
		switch a.Kind {
		case server.KindWeCom:
			b.sim.AddWeComApp(a.CorpID, a.AgentID, secret)
		case server.KindProvider:
			b.sim.AddProvider(a.CorpID, secret)
		case server.KindSuite:
			b.sim.AddSuite(a.SuiteID, secret)
		case server.KindCorp:
			b.sim.AddAuthCorp(suites[a.Suite], a.CorpID, secret)
		case server.KindComponent:
			b.sim.AddComponent(a.AppID, secret)
		default:
			b.sim.AddApp(a.AppID, secret)
		}
	}
	for _, u := range []*string{&cfg.Upstream.WeChat, &cfg.Upstream.WeCom} {
		if *u == "sim" {
			*u = b.url
		}
	}
	return nil
}

// pushTo has the simulator push to the callbacks of cfg's suite and
// component apps on the server at base, as upstream would: a ticket now
// and every 10 minutes, and one demo tenant installed in each.
func (b *builtinSim) pushTo(ctx context.Context, base string, cfg server.Config) {
	if b == nil {
		return
	}
	client := &http.Client{Timeout: 10 * time.Second}
	if cfg.TLS.Cert != "" {
		pool := x509.NewCertPool()
		if pem, err := os.ReadFile(cfg.TLS.Cert); err == nil {
			pool.AppendCertsFromPEM(pem)
		}
		client.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	}
	var installs []func(context.Context) error
	for _, a := range cfg.Apps {
		cb := a.Callback
		if cb == nil {
			continue
		}
		token, err1 := server.ReadSecret(cb.TokenEnv, cb.TokenFile)
		aesKey, err2 := server.ReadSecret(cb.AESKeyEnv, cb.AESKeyFile)
		if err1 != nil || err2 != nil {
			continue // server.New refused it already
		}
		target := wxsim.Callback{URL: base + "/v1/callback/" + a.ID, Token: token, EncodingAESKey: aesKey, Client: client}
		switch a.Kind {
		case server.KindSuite:
			if b.sim.SetSuiteCallback(a.SuiteID, target) == nil {
				installs = append(installs, func(ctx context.Context) error {
					_, err := b.sim.InstallCorp(ctx, a.SuiteID, demoCorp)
					return err
				})
			}
		case server.KindComponent:
			if b.sim.SetComponentCallback(a.AppID, target) == nil {
				installs = append(installs, func(ctx context.Context) error {
					_, err := b.sim.AuthorizeApp(ctx, a.AppID, demoAuthorizer)
					return err
				})
			}
		}
	}
	if len(installs) == 0 {
		return
	}
	report := func(err error) { b.logger.Warn("simulator: a push to the callback failed", "err", err) }
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		// A ticket first: the installs need the suite's and component's
		// tokens, which need it.
		if err := b.sim.PushTickets(ctx); err != nil && ctx.Err() == nil {
			report(err)
		}
		for _, install := range installs {
			if err := install(ctx); err != nil && ctx.Err() == nil {
				report(err)
			}
		}
		b.sim.RunPushes(ctx, 10*time.Minute, report)
	}()
}

func (b *builtinSim) close() {
	if b == nil {
		return
	}
	b.hs.Close()
	b.wg.Wait()
}
