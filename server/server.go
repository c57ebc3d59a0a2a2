// Package server is the central token server (中控服务器) WeChat's docs ask
// for, as an http.Handler: one Manager keeps every configured app's token
// alive, and business servers in any language get it over HTTP.
//
//	GET  /v1/token/{app}                    {"access_token","expires_in","expires_at"}
//	POST /v1/token/{app}/invalidate         {"access_token": rejected} -> compare-and-refresh
//	GET  /v1/ticket/{app}/{jsapi|agent_config}
//	POST /v1/jsapi/{app}/signature          {"url"} -> {"appId","timestamp","nonceStr","signature"}
//	POST /v1/suite_ticket/{app}             {"suite_ticket","timestamp"}: a ticket WeCom pushed
//	GET|POST /v1/callback/{app}             a suite's or component's encrypted pushes (signed, no key)
//	GET  /v1/token/{app}/tenants[/{tenant}] installed corps, authorizers, and their tokens
//	GET  /v1/status                         per-app health: {"cache","apps":{id:{"healthy","state","expires_at"}}}
//	GET  /healthz  /readyz  /metrics  /
//
// Clients authenticate with "Authorization: Bearer <key>". Errors are JSON
// {"errcode","errmsg"}: 400 malformed, 401 no or wrong key, 403 app not
// allowed for the client, 404 unknown app, 405 wrong method, 413 body too
// large, 502 upstream refused (with its errcode and message), 503 no usable
// token and refresh failing, or none within request_timeout.
package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/wxtoken/wxtoken/core"
	"github.com/wxtoken/wxtoken/server/internal/tenantreg"
	"github.com/wxtoken/wxtoken/wechat"
	"github.com/wxtoken/wxtoken/wechat/callback"
)

// maxBody bounds request bodies.
const maxBody = 64 << 10

// Server serves the tokens of the configured apps.
type Server struct {
	cfg   Config
	mgr   *core.Manager
	cache core.Cache
	// state is where what upstream never gives twice is kept: tenant
	// registries, refresh tokens, pushed tickets (Config.State).
	state core.Cache
	// stores are the clients of the cache and the state store; closer
	// closes them, or nothing once a reloaded Server took them over.
	stores    *stores
	closer    io.Closer
	registry  *prometheus.Registry
	collector *appCollector
	apps      map[string]*app
	order     []*app
	creds     map[string]credential // Manager identity -> app and credential kind, for metrics
	clients   *clients
	log       *slog.Logger
	handler   http.Handler
	// quotaEvery: how often upstream's quota is read (runUpstreamQuota).
	quotaEvery time.Duration
	// quotas: upstream's recent answers for GET /v1/quota.
	quotas quotaCache
	// shared: the counters, status and memories a reload hands on.
	shared
	// refusals rate-limits the warnings for refused client keys;
	// serverErrors those for requests answered 5xx.
	refusals, serverErrors logLimiter
	// callbackLog rate-limits the warnings for refused callbacks (apart
	// from refusals: a flood of bad callbacks hides no refused key).
	callbackLog logLimiter
	// proxies are the reverse proxies whose X-Forwarded-For names a
	// request's sender (senderOf).
	proxies      proxies
	forwardedLog logLimiter
	// guessLog rate-limits the warnings for addresses past their budget
	// of wrong keys.
	guessLog logLimiter
	// patterns are the routes served, as registered (for the API
	// document's test).
	patterns []string
	// box seals tenants' secrets (nil without suite or component apps).
	box     *wechat.SecretBox
	credsMu sync.RWMutex
	// The Sources' upstream options, made once.
	optsOnce              sync.Once
	wechatOpts, wecomOpts []wechat.Option
	// bg counts goroutines the server started (refreshes after a pushed
	// ticket, recoveries); Close ends ctx and waits for them.
	bg     sync.WaitGroup
	ctx    context.Context
	cancel context.CancelFunc
	// serving is set while Run runs: only a serving instance recovers
	// tenants by itself.
	serving atomic.Bool
}

// app is one configured account and the Manager keys of its credentials.
type app struct {
	AppConfig
	tokenKey string
	// redact: the app's secret, blanked from what upstream's tools return
	// (a failed call's record may hold it in any shape).
	redact  []string
	tickets map[string]string // ticket kind -> Manager key
	allowed map[string]bool   // client names; nil: all

	// Kinds suite and component: where pushed tickets go, the source
	// (for installs and authorizations), the callback's crypto and the
	// tenants.
	pushed   *wechat.PushedTickets
	suiteSrc *wechat.SuiteSource
	compSrc  *wechat.ComponentSource
	callback *callback.Crypto
	failures *failureBudget // refused callbacks, by address and in all
	// ticketRefresh bounds the fetches a stored ticket starts.
	ticketRefresh *rate.Limiter
	tenants       *tenantreg.Registry
	tenantMu      sync.Mutex
	tenantSet     map[string]tenantReg   // tenant id -> its registration here
	adopted       map[string]core.Source // tenant id -> the Source to register for it next
	clashes       map[string]string      // tenant id -> the configured corp app it is served as
	retry         []string               // tenants whose registration failed, for the next sync
	missMu        sync.Mutex             // one re-read for unknown tenants at a time
	missRead      time.Time              // the last one
	unreadable    logLimiter             // for the error about unparsable registry documents
	recovered     atomic.Int64           // when an automatic recovery was last tried (Unix ns)
	recovering    atomic.Bool            // one is running
	// republishing: a startRepublish pass runs; republishWanted: run one
	// (more).
	republishing, republishWanted atomic.Bool
}

// mayUse reports whether the client called name may use a (and see it on
// the status pages).
func (a *app) mayUse(name string) bool { return a.allowed == nil || a.allowed[name] }

// Option configures a Server.
type Option func(*options)

type options struct {
	logger   *slog.Logger
	registry *prometheus.Registry
	mgrOpts  []core.Option
	// quotaEvery: how often upstream's quota is read (tests shorten it).
	quotaEvery time.Duration
}

// WithLogger sets the logger. Default slog.Default().
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithManagerOptions passes options to the Manager (for tests: a clock, a
// shorter lock TTL).
func WithManagerOptions(opts ...core.Option) Option {
	return func(o *options) { o.mgrOpts = append(o.mgrOpts, opts...) }
}

// New validates cfg, opens the cache, reads the secrets and client keys,
// and registers every app. It makes no upstream call: tokens are fetched
// on first use or by Run.
func New(cfg Config, opts ...Option) (*Server, error) {
	o := newOptions(opts)
	cfg, err := checkedConfig(cfg)
	if err != nil {
		return nil, err
	}
	st, err := openStores(cfg, o.logger)
	if err != nil {
		return nil, err
	}
	s, err := assemble(cfg, o, st, shared{metrics: newMetrics(o.registry), stats: newStats(),
		replays: newReplayCache(st.state.cache, cfg.KeyPrefix), failures: newFailureBudget(), guesses: newKeyGuesses(),
		sessions: newSessions(st.state.cache, cfg.KeyPrefix), started: time.Now()})
	if err != nil {
		st.closer.Close()
		return nil, err
	}
	s.closer = st.closer
	o.registry.MustRegister(s.collector)
	return s, nil
}

func newOptions(opts []Option) options {
	o := options{logger: slog.Default(), registry: prometheus.NewRegistry(), quotaEvery: DefaultUpstreamQuotaEvery}
	for _, f := range opts {
		f(&o)
	}
	return o
}

// checkedConfig is cfg with its defaults applied and the instance named,
// or why it cannot be served.
func checkedConfig(cfg Config) (Config, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.validate(); err != nil {
		return cfg, err
	}
	if cfg.Instance == "" {
		cfg.Instance, _ = os.Hostname()
	}
	return cfg, nil
}

// stores are the shared cache and the state store a Server reads and
// writes, and what closes their clients.
type stores struct {
	cache, state *openedStore
	closer       io.Closer
}

// openStores opens cfg's cache and, when it is another store, its state
// store.
func openStores(cfg Config, logger *slog.Logger) (*stores, error) {
	cacheStore, err := openStore(cfg.Cache, logger)
	if err != nil {
		return nil, err
	}
	st := &stores{cache: cacheStore, state: cacheStore, closer: cacheStore.closer}
	if cfg.State != "" && cfg.State != cfg.Cache {
		if st.state, err = openStore(cfg.State, logger); err != nil {
			cacheStore.closer.Close()
			return nil, fmt.Errorf("state: %w", err)
		}
		st.closer = closers{cacheStore.closer, st.state.closer}
	}
	return st, nil
}

// shared is what a Server hands on to the one that replaces it on a
// reload (Reload): its counters, what the status page shows, and what it
// remembers of callbacks.
type shared struct {
	metrics *metrics
	stats   *stats
	// replays remembers the callbacks handled.
	replays *replayCache
	// failures budgets refused callbacks by source address; guesses the
	// wrong client keys.
	failures *failureBudget
	guesses  *keyGuesses
	// sessions makes and checks the status page's sign-in cookies.
	sessions *sessions
	started  time.Time
}

// assemble builds a Server for the checked cfg on st: client keys, the
// tenant key, the Manager and every app. The Server does not own st
// (its closer closes nothing) until its caller says so.
func assemble(cfg Config, o options, st *stores, sh shared) (*Server, error) {
	cl, err := loadClients(cfg.Clients)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, cache: st.cache.cache, state: st.state.cache, stores: st, closer: nopCloser{},
		apps: map[string]*app{}, creds: map[string]credential{}, clients: cl, log: o.logger, shared: sh, registry: o.registry, quotaEvery: o.quotaEvery}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.proxies, _ = parseProxies(cfg.TrustedProxies) // checked by Validate
	if s.box, err = loadTenantKey(cfg); err != nil {
		return nil, err
	}
	mopts := []core.Option{core.WithSettings(cfg.Settings), core.WithCache(s.cache), core.WithStateCache(s.state),
		core.WithLogger(o.logger), core.WithObserver(s.observe)}
	s.mgr = core.New(append(mopts, o.mgrOpts...)...)
	for _, ac := range cfg.Apps {
		if err := s.register(ac); err != nil {
			s.Close()
			return nil, err
		}
	}
	s.collector = newAppCollector(s)
	s.handler = s.routes(o.registry)
	return s, nil
}

// register reads an app's secret and registers its token and tickets.
func (s *Server) register(ac AppConfig) error {
	secret, err := readSecret("app "+ac.ID+" secret", ac.SecretEnv, ac.SecretFile)
	if err != nil {
		return err
	}
	a := &app{AppConfig: ac, tokenKey: ac.ID, tickets: map[string]string{}, ticketRefresh: rate.NewLimiter(rate.Every(ticketRefreshEvery), 1),
		redact: []string{secret}}
	if len(ac.Clients) > 0 {
		a.allowed = map[string]bool{}
		for _, c := range ac.Clients {
			a.allowed[c] = true
		}
	}
	k := kinds[ac.Kind] // Validate refused any other
	src := k.source(s, a, secret)
	if err := s.registerCred(a, a.tokenKey, "access_token", src); err != nil {
		return err
	}
	if ac.Callback != nil {
		if err := s.prepareTenants(a); err != nil {
			return err
		}
	}
	var tickets map[string]core.Source
	if k.tickets != nil {
		tickets = k.tickets(s, a)
	}
	for kind, t := range tickets {
		key := a.tokenKey + "#" + kind
		if err := s.registerCred(a, key, kind, t); err != nil {
			return err
		}
		a.tickets[kind] = key
	}
	s.apps[ac.ID] = a
	s.order = append(s.order, a)
	s.metrics.startApp(ac.ID, ac.Kind)
	return nil
}

// credential names what a Manager identity is to the server, for metric
// labels and the status page.
type credential struct {
	app, kind string
}

// registerCred registers one credential of a and remembers which app and
// kind its identity stands for. Two apps on one upstream account share
// the token; the first one names it.
func (s *Server) registerCred(a *app, key, kind string, src core.Source) error {
	if err := s.mgr.Register(key, src); err != nil {
		return err
	}
	if kind == "tenant" {
		return nil // named by its app's identity after the "@" (appOf): nothing kept per tenant
	}
	id, err := s.mgr.Identity(key)
	if err != nil {
		return err
	}
	s.credsMu.Lock()
	defer s.credsMu.Unlock()
	if _, seen := s.creds[id]; !seen {
		s.creds[id] = credential{app: a.ID, kind: kind}
	}
	return nil
}

func (s *Server) upstreamOptions() (wechatOpts, wecomOpts []wechat.Option) {
	s.optsOnce.Do(func() { s.wechatOpts, s.wecomOpts = s.buildUpstreamOptions() })
	return s.wechatOpts, s.wecomOpts
}

// buildUpstreamOptions makes the Sources' options from the config: one
// http.Client for all of them (tenants are many).
func (s *Server) buildUpstreamOptions() (wechatOpts, wecomOpts []wechat.Option) {
	if t := s.cfg.Upstream.Timeout; t > 0 {
		hc := wechat.WithHTTPClient(&http.Client{Timeout: t})
		wechatOpts, wecomOpts = append(wechatOpts, hc), append(wecomOpts, hc)
	}
	if s.cfg.Upstream.WeChat != "" {
		wechatOpts = append(wechatOpts, wechat.WithBaseURL(s.cfg.Upstream.WeChat))
	}
	if s.cfg.Upstream.WeCom != "" {
		wecomOpts = append(wecomOpts, wechat.WithBaseURL(s.cfg.Upstream.WeCom))
	}
	return
}

// closers closes each in turn.
type closers []io.Closer

func (cs closers) Close() error {
	var errs []error
	for _, c := range cs {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Cache returns the shared store the server keeps tokens, tickets and
// tenants in.
func (s *Server) Cache() core.Cache { return s.cache }

// Manager returns the Manager behind the server.
func (s *Server) Manager() *core.Manager { return s.mgr }

// Run refreshes every token ahead of expiry until ctx ends (core.Manager.Run),
// and keeps the tenants of suite and component apps in step with their
// registries in the shared store.
func (s *Server) Run(ctx context.Context) error {
	s.serving.Store(true)
	defer s.serving.Store(false)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.runTenantSync(ctx)
	}()
	quotaDone := make(chan struct{})
	go func() {
		defer close(quotaDone)
		s.runUpstreamQuota(ctx)
	}()
	defer func() { <-quotaDone }()
	err := s.mgr.Run(ctx)
	cancel()
	<-done
	return err
}

// Close stops the Manager (waiting for refreshes in flight, which releases
// their leases) and closes the cache client.
func (s *Server) Close() error {
	s.cancel()
	s.mgr.Close()
	s.bg.Wait()
	return s.closer.Close()
}

func (s *Server) lookupApp(w http.ResponseWriter, r *http.Request) (*app, bool) {
	id := r.PathValue("app")
	a := s.apps[id]
	if a == nil {
		writeError(w, http.StatusNotFound, CodeUnknownApp, fmt.Sprintf("unknown app %q", id))
		return nil, false
	}
	if name := clientName(w, r); !a.mayUse(name) {
		writeError(w, http.StatusForbidden, CodeForbidden, fmt.Sprintf("client %q may not use app %q", name, id))
		return nil, false
	}
	return a, true
}
