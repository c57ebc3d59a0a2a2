// Package wxsim simulates the WeChat and WeCom token endpoints faithfully
// enough to test a token farm against: it issues random tokens, retires the
// previous /cgi-bin/token token after an overlap, keeps stable and WeCom
// tokens stable while valid, answers a business endpoint with 40001 / 42001
// exactly when upstream would, enforces a daily limit, counts calls, and
// injects faults. Lifetimes are configurable so that a test lives through
// many expiries in seconds.
//
//	sim := wxsim.NewServer(wxsim.WithLifetime(3 * time.Second))
//	defer sim.Close()
//	sim.AddApp("wx123", "secret")
//	src := wechat.OfficialAccount("wx123", "secret", wechat.WithBaseURL(sim.URL))
package wxsim

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"sync"
	"time"

	"github.com/wxtoken/wxtoken/internal/beijing"
)

// Defaults mirror upstream.
const (
	DefaultLifetime        = 7200 * time.Second
	DefaultOverlap         = 5 * time.Minute
	DefaultDailyLimit      = 2000
	DefaultStableRenew     = 5 * time.Minute
	DefaultForcePerDay     = 20
	DefaultForceInterval   = 30 * time.Second
	SuiteTicketLifetime    = 30 * time.Minute
	defaultTokenLengthByte = 96
	// DefaultProbeLimit is the daily quota of /cgi-bin/get_api_domain_ip
	// per credential.
	DefaultProbeLimit = 1000
)

// Paths of the two access_token checks the simulator answers.
const (
	// BusinessPath (/cgi-bin/getcallbackip) stands for any business API:
	// tests spend tokens on it, and its answers are counted as Checks.
	BusinessPath = "/cgi-bin/getcallbackip"
	// ProbePath (/cgi-bin/get_api_domain_ip) is where a token source asks
	// whether a token is alive; its answers are counted as Probes, apart
	// from business calls, and limited per day as upstream does.
	ProbePath = "/cgi-bin/get_api_domain_ip"
)

// Option configures a Sim.
type Option func(*Sim)

// WithLifetime sets the lifetime of every token and ticket issued, rounded
// down to whole seconds as expires_in is (at least one second).
func WithLifetime(d time.Duration) Option {
	return func(s *Sim) { s.lifetime = max(d.Truncate(time.Second), time.Second) }
}

// WithOverlap sets how long a /cgi-bin/token token keeps working after the
// next one is issued. Upstream: about 5 minutes.
func WithOverlap(d time.Duration) Option { return func(s *Sim) { s.overlap = d } }

// WithDailyLimit sets how many /cgi-bin/token calls one appid may make per
// day before 45009. Zero or less means no limit.
func WithDailyLimit(n int) Option { return func(s *Sim) { s.dailyLimit = n } }

// WithStableRenewBefore sets how long before expiry stable_token's normal
// mode starts returning a new token (upstream: 5 minutes). It is capped at
// half the lifetime.
func WithStableRenewBefore(d time.Duration) Option { return func(s *Sim) { s.stableRenew = d } }

// WithForceRefreshLimits sets stable_token's force_refresh quota: per day,
// and the least interval between two (a call sooner is answered in normal
// mode, as upstream does).
func WithForceRefreshLimits(perDay int, interval time.Duration) Option {
	return func(s *Sim) { s.forcePerDay, s.forceInterval = perDay, interval }
}

// WithClock makes the simulator tell time by now instead of time.Now, so a
// test can run upstream on the same virtual clock as its Managers.
func WithClock(now func() time.Time) Option { return func(s *Sim) { s.clock = now } }

// WithWeComNewTokenPerCall makes /cgi-bin/gettoken issue a new token on
// every call (older tokens stay valid until they expire) instead of
// returning the live one, the behaviour older WeCom docs describe.
func WithWeComNewTokenPerCall() Option { return func(s *Sim) { s.wecomNewPerCall = true } }

// Sim is the simulator as an http.Handler; NewServer serves one on
// loopback. It is safe for concurrent use.
type Sim struct {
	lifetime        time.Duration
	overlap         time.Duration
	dailyLimit      int
	stableRenew     time.Duration
	forcePerDay     int
	forceInterval   time.Duration
	wecomNewPerCall bool
	clock           func() time.Time

	mu       sync.Mutex
	apps     map[string]string      // appid -> secret
	wecom    map[wecomKey]string    // corpid + secret -> agent id
	provs    map[string]string      // provider corpid -> provider secret
	suites   map[string]*suite      // suite id -> suite
	authed   map[authKey]string     // suite + auth corpid -> permanent code
	tokens   map[string]*issued     // token or ticket value -> record
	current  map[string]string      // credential id -> newest value
	daily    map[string]*dayCounter // credential id -> calls today
	forces   map[string]*dayCounter // stable credential id -> forced refreshes today
	probes   map[string]*dayCounter // credential id -> probes today
	calls    map[string]*dayCounter // account + " " + path -> calls today (quota/get)
	clears   map[string]*dayCounter // account -> clear_quota uses this month
	rids     map[string]ridRecord   // rid of a failed call -> what upstream keeps of it
	ridOrder []string
	issues   map[string][]time.Time // credential id -> issue times
	faults   []*Fault
	stats    Stats
	mux      *http.ServeMux

	components  map[string]*component // component appid -> component
	authorizers map[authKey]*authorizer
	refresh     map[string]*issued // authorizer_refresh_token -> record
	bg          sync.WaitGroup     // pushes api_start_push_ticket started
}

type wecomKey struct{ corp, secret string }
type authKey struct{ suite, corp string }

type suite struct {
	secret  string
	tickets map[string]time.Time // ticket -> expiry
	codes   map[string]authCode  // pending install auth codes
	push    *pusher              // nil: no callback configured
}

// authCode is an install's one-time code, waiting for get_permanent_code.
type authCode struct {
	corp    string
	expires time.Time
}

// AuthCodeLifetime is how long an install's auth_code (WeCom) or
// authorization_code (Open Platform) can be exchanged.
const AuthCodeLifetime = 10 * time.Minute

// issued is one token or ticket the simulator handed out.
type issued struct {
	owner   string // credential id, such as "token:wx123"
	expires time.Time
	retired time.Time // zero: not retired
}

// retireBy retires t at the latest at when.
func (t *issued) retireBy(when time.Time) {
	if t.retired.IsZero() || when.Before(t.retired) {
		t.retired = when
	}
}

func (t *issued) valid(now time.Time) bool {
	return now.Before(t.expires) && (t.retired.IsZero() || now.Before(t.retired))
}

type dayCounter struct {
	day   string
	count int
	last  time.Time
}

// bump counts one event today and returns the count before it.
func (c *dayCounter) bump(now time.Time) int {
	day := beijing.Day(now)
	if c.day != day {
		c.day, c.count = day, 0
	}
	n := c.count
	c.count++
	c.last = now
	return n
}

// New returns a simulator with no apps.
func New(opts ...Option) *Sim {
	s := &Sim{
		lifetime: DefaultLifetime, overlap: DefaultOverlap, dailyLimit: DefaultDailyLimit,
		stableRenew: DefaultStableRenew, forcePerDay: DefaultForcePerDay, forceInterval: DefaultForceInterval,
		apps: map[string]string{}, wecom: map[wecomKey]string{}, provs: map[string]string{},
		suites: map[string]*suite{}, authed: map[authKey]string{}, tokens: map[string]*issued{},
		current: map[string]string{}, daily: map[string]*dayCounter{}, forces: map[string]*dayCounter{},
		probes: map[string]*dayCounter{}, calls: map[string]*dayCounter{}, clears: map[string]*dayCounter{}, clock: time.Now,
		issues: map[string][]time.Time{}, stats: newStats(),
		components: map[string]*component{}, authorizers: map[authKey]*authorizer{}, refresh: map[string]*issued{},
	}
	for _, o := range opts {
		o(s)
	}
	s.routes()
	return s
}

// AddApp registers an official account, mini program or mini game.
func (s *Sim) AddApp(appID, secret string) {
	s.mu.Lock()
	s.apps[appID] = secret
	s.mu.Unlock()
}

// AddWeComApp registers one app of a WeCom corp: its secret identifies it.
func (s *Sim) AddWeComApp(corpID, agentID, secret string) {
	s.mu.Lock()
	s.wecom[wecomKey{corpID, secret}] = agentID
	s.mu.Unlock()
}

// AddProvider registers a WeCom service provider.
func (s *Sim) AddProvider(corpID, providerSecret string) {
	s.mu.Lock()
	s.provs[corpID] = providerSecret
	s.mu.Unlock()
}

// AddSuite registers a WeCom third-party app (suite).
func (s *Sim) AddSuite(suiteID, secret string) {
	s.mu.Lock()
	s.suites[suiteID] = &suite{secret: secret, tickets: map[string]time.Time{}, codes: map[string]authCode{}}
	s.mu.Unlock()
}

// PushSuiteTicket issues a suite_ticket for suiteID, as WeCom pushes one to
// the callback URL every 10 minutes, and returns it.
func (s *Sim) PushSuiteTicket(suiteID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.suites[suiteID]
	if st == nil {
		return ""
	}
	t := randomValue(32)
	st.tickets[t] = s.now().Add(SuiteTicketLifetime)
	return t
}

// AddAuthCorp registers a corp that authorized suiteID, with the permanent
// code the installation returned.
func (s *Sim) AddAuthCorp(suiteID, corpID, permanentCode string) {
	s.mu.Lock()
	s.authed[authKey{suiteID, corpID}] = permanentCode
	s.mu.Unlock()
}

// issue makes a new value for credential id, valid for the sim's lifetime.
// Callers hold s.mu.
func (s *Sim) issue(id string, now time.Time) (string, *issued) {
	v := randomValue(defaultTokenLengthByte)
	rec := &issued{owner: id, expires: now.Add(s.lifetime)}
	s.tokens[v] = rec
	s.current[id] = v
	s.issues[id] = append(s.issues[id], now)
	s.stats.Issued++
	return v, rec
}

// live returns the newest value of credential id if it is still valid.
// Callers hold s.mu.
func (s *Sim) live(id string, now time.Time) (string, *issued, bool) {
	v, ok := s.current[id]
	if !ok {
		return "", nil, false
	}
	rec := s.tokens[v]
	return v, rec, rec.valid(now)
}

func (s *Sim) now() time.Time { return s.clock() }

// Revoke makes upstream refuse token from now on with 40001, as a secret
// reset or a call from another system would. It reports whether token was
// one the simulator issued.
func (s *Sim) Revoke(token string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.tokens[token]
	if ok {
		rec.retired = s.now()
	}
	return ok
}

func randomValue(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func requestID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
