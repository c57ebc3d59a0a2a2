package server

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/wxtoken/wxtoken/core"
	"github.com/wxtoken/wxtoken/wechat"
)

// Config is the server's configuration, as read from YAML by LoadConfig.
// Secrets and client keys are never written inline: each names an
// environment variable or a file that holds it.
type Config struct {
	// Listen is the address to serve on. Default 127.0.0.1:8080.
	Listen string `yaml:"listen"`
	// TLS, when both files are set, serves HTTPS.
	TLS struct {
		Cert string `yaml:"cert"`
		Key  string `yaml:"key"`
	} `yaml:"tls"`
	// InsecureNoAuth serves without client keys; allowed only on a
	// loopback address.
	InsecureNoAuth bool `yaml:"insecure_no_auth"`
	// Cache is the shared store as a URL: memory://, file:///path,
	// redis://host:port/db, rediss://..., redis+sentinel://h1,h2/master,
	// redis+cluster://h1,h2, memcache://h1,h2, etcd://h1,h2. Default
	// memory://. redis:// and redis+cluster:// URLs take go-redis client
	// options as query parameters in snake case (?pool_size=4&read_timeout=1s).
	Cache string `yaml:"cache"`
	// State is where what upstream never gives twice is kept: suites' and
	// components' tenant registries, permanent codes, refresh tokens and
	// pushed tickets. A URL as for Cache; default the cache. It must keep
	// what it holds: with suite or component apps, memcache:// is refused,
	// and memory:// or a Redis without persistence or with an allkeys-*
	// maxmemory-policy are refused unless AcceptVolatileState.
	State string `yaml:"state"`
	// AcceptVolatileState lets the server start on a state store that
	// can lose data, for a demo or a test: the fleet re-publishes what
	// its instances hold, but a store that loses its data while no
	// instance runs loses the tenants with it (see wxtoken tenants
	// export).
	AcceptVolatileState bool `yaml:"accept_volatile_state"`
	// Instance names this server on its status page. Default the host
	// name.
	Instance string `yaml:"instance"`
	// TrustedProxies are the reverse proxies (addresses or CIDR prefixes)
	// in front of the server whose X-Forwarded-For is believed: the
	// callback route's refusal budget is per sender, and behind a proxy
	// without this every sender is the proxy.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// RequestTimeout bounds how long one API request waits for a token
	// (through an upstream outage, a slow refresh): past it the client
	// gets 503. Default 30s; wxtoken serve's HTTP write timeout is set
	// 10 s above it, so the 503 is always written.
	RequestTimeout time.Duration `yaml:"request_timeout"`
	// Upstream base URLs. Default the real WeChat and WeCom hosts.
	// Timeout bounds one upstream request. Default 10s.
	Upstream struct {
		WeChat  string        `yaml:"wechat"`
		WeCom   string        `yaml:"wecom"`
		Timeout time.Duration `yaml:"timeout"`
	} `yaml:"upstream"`
	// Auth says whether /metrics and the status page need a client key.
	// Both default to true.
	Auth struct {
		Metrics *bool `yaml:"metrics"`
		Status  *bool `yaml:"status"`
	} `yaml:"auth"`
	// Clients are the business servers allowed to call, by name.
	Clients []ClientConfig `yaml:"clients"`
	// Apps are the accounts the server keeps tokens for.
	Apps []AppConfig `yaml:"apps"`
	// TenantKeyEnv or TenantKeyFile names the key ring (each key 32 bytes
	// in base64: `openssl rand -base64 32`; several separated by white
	// space or commas, newest first) that seals tenants' secrets in the
	// state store: WeCom permanent codes and Open Platform refresh tokens.
	// The newest key seals, any opens: to rotate, put a new key first,
	// run `wxtoken tenants reseal`, then drop the old one. Required with a
	// suite or component app; every instance of a fleet needs the same
	// ring.
	TenantKeyEnv  string `yaml:"tenant_key_env"`
	TenantKeyFile string `yaml:"tenant_key_file"`
	// Settings are the Manager's tunables, written at the top level of the
	// file (key_prefix, refresh_ahead, expiry_margin, local_ttl, lock_ttl,
	// lock_wait, cache_timeout, error_hold, degraded_after, degraded_interval,
	// fetch_attempts, invalidate_budget, verify_interval); a missing one
	// keeps its default. Durations are written like "10m" or "1.5s". See
	// core.Settings: the same definitions, defaults and rules.
	core.Settings `yaml:",inline"`
	// Log format ("text" or "json") and level ("debug", "info", "warn").
	Log struct {
		Format string `yaml:"format"`
		Level  string `yaml:"level"`
	} `yaml:"log"`
}

// ClientConfig is one business server's key.
type ClientConfig struct {
	Name    string `yaml:"name"`
	KeyEnv  string `yaml:"key_env"`
	KeyFile string `yaml:"key_file"`
	// Scopes grant more than tokens. "admin": operator actions over HTTP
	// (POST /v1/quota/{app}/clear, which spends one of upstream's ten
	// clear_quota uses a month).
	Scopes []string `yaml:"scopes"`
}

// ScopeAdmin lets a client run operator actions over HTTP.
const ScopeAdmin = "admin"

// AppConfig is one account.
type AppConfig struct {
	// ID names the app in URLs: /v1/token/{id}.
	ID string `yaml:"id"`
	// Kind is official (also mini programs and games), stable, wecom, or
	// for WeCom service providers provider, suite or corp.
	Kind    string `yaml:"kind"`
	AppID   string `yaml:"appid"`
	CorpID  string `yaml:"corpid"` // wecom, provider; for corp, the authorizing corp
	AgentID string `yaml:"agentid"`
	SuiteID string `yaml:"suite_id"` // suite
	Suite   string `yaml:"suite"`    // corp: the id of the suite app it was authorized through
	// The secret comes from an environment variable or a file: the app
	// secret, provider_secret, suite_secret, or for corp the permanent
	// code.
	SecretEnv  string `yaml:"secret_env"`
	SecretFile string `yaml:"secret_file"`
	// Clients limits the app to these client names; empty means all.
	Clients []string `yaml:"clients"`
	// DailyLimit is upstream's daily quota of token calls, shown on the
	// status page. Default 2000 for official, none otherwise.
	DailyLimit int `yaml:"daily_limit"`
	// Callback, for a suite or component app, receives upstream's
	// encrypted pushes at /v1/callback/{id}: tickets, installs and
	// authorizations, whose tenants are then served at
	// /v1/token/{id}/tenants/{tenant}. Required for a component; a suite
	// without one takes tickets at /v1/suite_ticket/{id} and has no
	// tenants but the corp apps listed.
	Callback *CallbackConfig `yaml:"callback"`
	// TicketClients, for a suite with a callback, are the clients that may
	// still post suite_tickets to /v1/suite_ticket/{id} (a business
	// callback of their own that decrypts them). Without them that route
	// is off: the signed push is the only source of tickets, and no client
	// key can override it. A suite without a callback takes tickets from
	// any client the app allows.
	TicketClients []string `yaml:"ticket_clients"`
}

// CallbackConfig is the Token and EncodingAESKey configured for a callback
// URL on WeCom's or the Open Platform's console, each read from an
// environment variable or a file, and the receiver ids accepted besides
// the app's own (the suite id or component appid): for a WeCom suite, the
// provider's corpid, which WeCom seals some callbacks for.
type CallbackConfig struct {
	TokenEnv   string   `yaml:"token_env"`
	TokenFile  string   `yaml:"token_file"`
	AESKeyEnv  string   `yaml:"aes_key_env"`
	AESKeyFile string   `yaml:"aes_key_file"`
	Receivers  []string `yaml:"receivers"`
}

// Kinds of app.
const (
	KindOfficial = "official"
	KindStable   = "stable"
	KindWeCom    = "wecom"
	KindProvider = "provider"
	KindSuite    = "suite"
	KindCorp     = "corp"
	// KindComponent is a WeChat Open Platform third-party platform: its
	// component_access_token, and the tokens of the official accounts
	// and mini programs that authorize it (tenants).
	KindComponent = "component"
)

// LoadConfig reads a YAML config file. Unknown fields are errors, so a
// typo does not silently drop a setting.
func LoadConfig(path string) (Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return Config{}, err
	}
	defer f.Close()
	return ParseConfig(f)
}

// ParseConfig reads a YAML config.
func ParseConfig(r io.Reader) (Config, error) {
	var c Config
	dec := yaml.NewDecoder(r)
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		if strings.Contains(err.Error(), "into time.Duration") {
			return Config{}, fmt.Errorf("config: %w (durations are written with a unit: 600 seconds is 10m or 600s)", err)
		}
		return Config{}, fmt.Errorf("config: %w", err)
	}
	return c, nil
}

// WithDefaults returns the config as it runs: listen, cache and
// request_timeout filled in, an app without a kind (or miniprogram,
// minigame) an official account, an official account's daily limit 2000.
// c is not changed (its Apps are copied). Instance stays as given: New
// fills it with the hostname.
func (c Config) WithDefaults() Config {
	if c.Listen == "" {
		c.Listen = "127.0.0.1:8080"
	}
	if c.Cache == "" {
		c.Cache = "memory://"
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	c.Apps = slices.Clone(c.Apps)
	for i := range c.Apps {
		a := &c.Apps[i]
		if a.Kind == "" || a.Kind == "miniprogram" || a.Kind == "minigame" {
			a.Kind = KindOfficial
		}
		if a.DailyLimit == 0 && a.Kind == KindOfficial {
			a.DailyLimit = 2000
		}
	}
	return c
}

// DefaultRequestTimeout is Config.RequestTimeout's default.
const DefaultRequestTimeout = 30 * time.Second

// Validate checks the config as it would run (WithDefaults) and says
// what is wrong, all at once. It changes nothing and reads nothing but
// the config (the secrets and files it names are read by New).
func (c *Config) Validate() error {
	d := c.WithDefaults()
	return d.validate()
}

// validate checks c, its defaults applied.
func (c *Config) validate() error {
	var errs []error
	if err := c.Settings.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.RequestTimeout < 0 {
		errs = append(errs, fmt.Errorf("request_timeout is %v: it must be positive (a duration such as 30s)", c.RequestTimeout))
	}
	upstreamTimeout := wechat.DefaultTimeout
	switch {
	case c.Upstream.Timeout < 0:
		errs = append(errs, fmt.Errorf("upstream.timeout is %v: it must not be negative", c.Upstream.Timeout))
	case c.Upstream.Timeout > 0:
		upstreamTimeout = c.Upstream.Timeout
	}
	if lockTTL := c.Settings.LockTTL; lockTTL > 0 && lockTTL < upstreamTimeout {
		errs = append(errs, fmt.Errorf("lock_ttl (%v) must be at least upstream.timeout (%v): a lease shorter than one upstream call is lost mid-fetch whenever upstream is slow", lockTTL, upstreamTimeout))
	}
	if (c.TLS.Cert == "") != (c.TLS.Key == "") {
		errs = append(errs, errors.New("tls: give both cert and key (or neither, for plain HTTP behind a TLS proxy)"))
	}
	if c.TenantKeyEnv != "" && c.TenantKeyFile != "" {
		errs = append(errs, errors.New("tenant_key_env and tenant_key_file: give one"))
	}
	if len(c.Apps) == 0 {
		errs = append(errs, errors.New("apps: none configured: list at least one app"))
	}
	if _, err := parseProxies(c.TrustedProxies); err != nil {
		errs = append(errs, fmt.Errorf("trusted_proxies: %w (want addresses or CIDR prefixes, such as 10.0.0.0/8)", err))
	}
	if err := c.validateState(); err != nil {
		errs = append(errs, err)
	}
	if len(c.Clients) == 0 && !c.InsecureNoAuth {
		errs = append(errs, errors.New("no clients: add client keys, or set insecure_no_auth (loopback only)"))
	}
	if c.InsecureNoAuth && !isLoopback(c.Listen) {
		errs = append(errs, fmt.Errorf("insecure_no_auth is allowed only on a loopback address, not %q", c.Listen))
	}
	names := map[string]bool{}
	for i, cl := range c.Clients {
		switch {
		case cl.Name == "":
			errs = append(errs, fmt.Errorf("clients[%d]: no name", i))
		case names[cl.Name]:
			errs = append(errs, fmt.Errorf("clients[%d]: name %q used twice", i, cl.Name))
		case (cl.KeyEnv == "") == (cl.KeyFile == ""):
			errs = append(errs, fmt.Errorf("client %q: give key_env or key_file (exactly one)", cl.Name))
		}
		for _, sc := range cl.Scopes {
			if sc != ScopeAdmin {
				errs = append(errs, fmt.Errorf("clients[%d] (%s): scopes: unknown scope %q (known: %s)", i, cl.Name, sc, ScopeAdmin))
			}
		}
		names[cl.Name] = true
	}
	ids, suites := map[string]bool{}, map[string]bool{}
	accounts := map[string]string{} // upstream account -> the app that has it
	for i, a := range c.Apps {
		where := fmt.Sprintf("apps[%d] (%s)", i, a.ID)
		if acct := a.account(); acct != "" {
			if other, dup := accounts[acct]; dup {
				errs = append(errs, fmt.Errorf("%s: the same %s account as app %q: one account, one app (a second id could carry another secret and bypass the first's clients list)", where, a.Kind, other))
			} else {
				accounts[acct] = a.ID
			}
		}
		switch {
		case a.ID == "" || strings.ContainsAny(a.ID, "/#?% "):
			errs = append(errs, fmt.Errorf("%s: id must be set and URL-safe", where))
		case ids[a.ID]:
			errs = append(errs, fmt.Errorf("%s: id used twice", where))
		}
		ids[a.ID] = true
		if err := checkKind(a, where); err != nil {
			errs = append(errs, err)
		} else if a.Kind == KindCorp && !suites[a.Suite] {
			errs = append(errs, fmt.Errorf("%s: suite %q is not a suite app listed before it", where, a.Suite))
		}
		if hasTenants(a.Kind) && a.Callback != nil && c.TenantKeyEnv == "" && c.TenantKeyFile == "" {
			errs = append(errs, fmt.Errorf("%s: a %s app with a callback keeps its tenants' secrets sealed in the shared store: set tenant_key_env or tenant_key_file", where, a.Kind))
		}
		if cb := a.Callback; cb != nil {
			switch {
			case !hasTenants(a.Kind):
				errs = append(errs, fmt.Errorf("%s: callback is for suite and component apps only", where))
			case (cb.TokenEnv == "") == (cb.TokenFile == ""):
				errs = append(errs, fmt.Errorf("%s: callback: give token_env or token_file (exactly one)", where))
			case (cb.AESKeyEnv == "") == (cb.AESKeyFile == ""):
				errs = append(errs, fmt.Errorf("%s: callback: give aes_key_env or aes_key_file (exactly one)", where))
			}
		}
		if a.Kind == KindSuite {
			suites[a.ID] = true
		}
		if (a.SecretEnv == "") == (a.SecretFile == "") {
			errs = append(errs, fmt.Errorf("%s: give secret_env or secret_file (exactly one)", where))
		}
		for _, n := range a.Clients {
			if !names[n] {
				errs = append(errs, fmt.Errorf("%s: unknown client %q", where, n))
			}
		}
		if len(a.TicketClients) > 0 && (a.Kind != KindSuite || a.Callback == nil) {
			errs = append(errs, fmt.Errorf("%s: ticket_clients is for a suite with a callback (without one, the app's clients post tickets)", where))
		}
		for _, n := range a.TicketClients {
			if !names[n] {
				errs = append(errs, fmt.Errorf("%s: ticket_clients: unknown client %q", where, n))
			}
		}
	}
	return errors.Join(errs...)
}

// validateState refuses state stores that cannot keep state, by their
// URL alone (a Redis is judged at startup, by CheckState).
func (c *Config) validateState() error {
	if !c.needsDurableState() {
		return nil
	}
	u := c.State
	if u == "" {
		u = c.Cache
	}
	switch {
	case strings.HasPrefix(u, "memcache:"):
		return fmt.Errorf("%s: memcached cannot be the state store of suite and component apps: it evicts items at will and deletes the item a refused SET was to replace, and with them permanent codes and refresh tokens upstream never gives again. Name a durable store (a Redis with persistence, etcd, file://) as state:", c.stateField())
	case strings.HasPrefix(u, "memory:") && !c.AcceptVolatileState:
		return fmt.Errorf("%s: memory:// loses every tenant's permanent code and refresh token when the process ends. Name a durable store (file:///var/lib/wxtoken, etcd, a Redis with persistence), or set accept_volatile_state: true for a demo or a test", c.stateField())
	}
	return nil
}

// hasTenants reports whether apps of kind have tenants added at run time.

// isLoopback reports whether a listen address binds only loopback.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ErrNoSecretSource is returned by ReadSecret when neither an environment
// variable nor a file is named.
var ErrNoSecretSource = errors.New("no environment variable or file named for the secret")

// ReadSecret reads a secret from the environment variable env or else the
// file named file, trimming one trailing newline. An unset variable, an
// unreadable file or an empty secret is an error that names where it
// looked, never the secret.
func ReadSecret(env, file string) (string, error) {
	switch {
	case env != "":
		v := os.Getenv(env)
		if v == "" {
			return "", fmt.Errorf("environment variable %s is not set", env)
		}
		return v, nil
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return "", err
		}
		v := strings.TrimRight(string(b), "\r\n")
		if v == "" {
			return "", fmt.Errorf("%s is empty", file)
		}
		return v, nil
	}
	return "", ErrNoSecretSource
}

// readSecret is ReadSecret with what it is for in the error.
func readSecret(what, env, file string) (string, error) {
	v, err := ReadSecret(env, file)
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	return v, nil
}
