// Package farm runs a fleet of wxtoken nodes on a real store against a
// WeChat simulator (or an upstream of your own), breaks it on purpose, and
// reports what the fleet did: upstream calls against the ideal, failed
// business calls, Token latency, lock waits, store operations, memory.
// `wxtoken-farm` is its command line.
//
// Each node has its own Manager and its own client of the store, and
// Workers goroutines that take a token and spend it on the simulator's
// business API, reporting a refused token with Invalidate as an
// application would.
package farm

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"strings"
	"time"

	"github.com/wxtoken/wxtoken/core"
)

// Credential kinds a farm can serve.
const (
	KindOfficial = "official" // /cgi-bin/token: a new token per call, the old one lives Overlap longer
	KindWeCom    = "wecom"    // WeCom gettoken: the live token until it expires
)

// Config describes a farm run. Zero fields take their defaults.
type Config struct {
	// Nodes is the number of nodes. Default 16.
	Nodes int
	// Workers is the number of callers per node. Default 8.
	Workers int
	// Duration of the traffic. Default 5 lifetimes and a half.
	Duration time.Duration
	// Cache is the store as a cache URL, as `wxtoken serve` takes it.
	// Default memory:// (one in-process store shared by every node).
	Cache string
	// Upstream is the base URL of an upstream of your own that speaks
	// WeChat's and WeCom's token APIs and wxsim's business check; empty
	// starts wxsim in the process. Faults on upstream need wxsim.
	Upstream string
	// With Upstream set: the account the fleet asks for (AppID for
	// official, CorpID and AgentID for wecom) and its secret. With the
	// built-in simulator, accounts of the run's own are made up.
	AppID, CorpID, AgentID string
	Secret                 string
	// Lifetime and Overlap of the tokens wxsim grants. Default 40 s and
	// 5 s. With Upstream set, Lifetime must be what that upstream grants.
	Lifetime time.Duration
	Overlap  time.Duration
	// Ramp spreads the nodes' start evenly over this long from the start
	// of the run, as a rolling deploy would; 0 starts them all at once.
	Ramp time.Duration
	// PollOnly hides the store's write notices (core.Watcher) from the
	// nodes, so those with nothing to serve poll for the lock as they
	// would on a store without them: the "before" of the herd fix.
	PollOnly bool
	// NoBalancer keeps every node's callers on their node whatever it can
	// reach, as for a fleet built into processes that no balancer routes
	// around. By default the farm models a balancer that follows each
	// node's readiness: a node whose store has not answered for two store
	// timeouts is out of rotation and its callers' calls go to the others
	// (counted in Report.Routed), until no node is in rotation, when every
	// node serves its own.
	NoBalancer bool
	// Pace is how long a worker rests between two business calls.
	// Default 10 ms.
	Pace time.Duration
	// Credentials are the kinds served, one credential each; workers spread
	// over them. Default official.
	Credentials []string
	// Settings for every node's Manager; zero fields are scaled from the
	// lifetime (see Scaled).
	Settings core.Settings
	// Faults to inject, each at its own time.
	Faults []Fault
	// Progress, when set, gets a line every ProgressEvery (default 1 s).
	Progress      io.Writer `json:"-"`
	ProgressEvery time.Duration
	// Logger for the nodes' Managers. Default: warnings and errors to
	// stderr.
	Logger *slog.Logger `json:"-"`
	// StoreControl pauses and resumes the store for a PauseStore fault.
	StoreControl StoreControl `json:"-"`
	// Procs runs each node as an OS process of its own, started by
	// NodeCommand (which must run RunNodeProcess, as `wxtoken-farm node`
	// does), so that KillHolder kills a real process with SIGKILL.
	Procs       bool
	NodeCommand func() *exec.Cmd `json:"-"`
	// TimelineStep is the width of a column of the timeline. Default
	// Duration/600.
	TimelineStep time.Duration
}

// StoreControl pauses and resumes the store process (SIGSTOP / SIGCONT,
// docker pause / unpause).
type StoreControl interface {
	Pause() error
	Resume() error
}

// Scaled returns the Manager settings for tokens of lifetime life, scaled
// the way WeChat's defaults relate to its 2-hour tokens but kept workable
// on a loopback network: refresh 3/8 of the lifetime ahead, stop serving a
// tenth before expiry, re-check the store every 300 ms, a lock TTL of an
// eighth of the lifetime (at most the default 30 s), and a store counted
// down after failing for an eighth of the lifetime (at most the default).
func Scaled(life time.Duration) core.Settings {
	d := core.DefaultSettings()
	d.RefreshAhead = life * 3 / 8
	d.ExpiryMargin = life / 10
	d.LocalTTL = min(300*time.Millisecond, life/20)
	d.LockTTL = min(d.LockTTL, max(life/8, time.Second))
	d.LockWait = d.LockTTL * 3 / 2
	d.CacheTimeout = min(d.CacheTimeout, d.LockTTL/2)
	d.ErrorHold = min(d.ErrorHold, life/20)
	d.DegradedAfter = min(d.DegradedAfter, life/8)
	d.DegradedInterval = min(d.DegradedInterval, life/4)
	d.VerifyInterval = min(d.VerifyInterval, life/40)
	return d
}

// startOffset is when node i starts, after the start of the run.
func (c Config) startOffset(i int) time.Duration {
	if c.Ramp <= 0 || c.Nodes == 0 {
		return 0
	}
	return c.Ramp * time.Duration(i) / time.Duration(c.Nodes)
}

func (c Config) withDefaults() Config {
	if c.Nodes == 0 {
		c.Nodes = 16
	}
	if c.Workers == 0 {
		c.Workers = 8
	}
	if c.Lifetime == 0 {
		c.Lifetime = 40 * time.Second
	}
	if c.Overlap == 0 {
		c.Overlap = 5 * time.Second
	}
	if c.Duration == 0 {
		c.Duration = c.Lifetime*5 + c.Lifetime/2
	}
	if c.Cache == "" {
		c.Cache = "memory://"
	}
	if len(c.Credentials) == 0 {
		c.Credentials = []string{KindOfficial}
	}
	if c.Pace == 0 {
		c.Pace = 10 * time.Millisecond
	}
	if c.ProgressEvery == 0 {
		c.ProgressEvery = time.Second
	}
	if c.TimelineStep == 0 {
		c.TimelineStep = max(c.Duration/600, 10*time.Millisecond)
	}
	s := Scaled(c.Lifetime)
	fill(&c.Settings.KeyPrefix, "wxtoken-farm")
	fill(&c.Settings.RefreshAhead, s.RefreshAhead)
	fill(&c.Settings.ExpiryMargin, s.ExpiryMargin)
	fill(&c.Settings.LocalTTL, s.LocalTTL)
	fill(&c.Settings.LockTTL, s.LockTTL)
	fill(&c.Settings.LockWait, s.LockWait)
	fill(&c.Settings.CacheTimeout, s.CacheTimeout)
	fill(&c.Settings.ErrorHold, s.ErrorHold)
	fill(&c.Settings.DegradedAfter, s.DegradedAfter)
	fill(&c.Settings.DegradedInterval, s.DegradedInterval)
	fill(&c.Settings.VerifyInterval, s.VerifyInterval)
	return c
}

func fill[T comparable](p *T, v T) {
	var zero T
	if *p == zero {
		*p = v
	}
}

func (c Config) validate() error {
	var errs []error
	if c.Nodes < 1 || c.Workers < 1 {
		errs = append(errs, fmt.Errorf("farm: nodes (%d) and workers (%d) must be at least 1", c.Nodes, c.Workers))
	}
	if c.Duration <= 0 || c.Lifetime <= 0 || c.Overlap < 0 {
		errs = append(errs, errors.New("farm: duration and lifetime must be positive, overlap not negative"))
	}
	if c.Ramp < 0 || (c.Duration > 0 && c.Ramp >= c.Duration) {
		errs = append(errs, fmt.Errorf("farm: ramp (%v) must be at least 0 and shorter than the duration (%v)", c.Ramp, c.Duration))
	}
	for _, k := range c.Credentials {
		switch {
		case k != KindOfficial && k != KindWeCom:
			errs = append(errs, fmt.Errorf("farm: credential kind %q: want %s or %s", k, KindOfficial, KindWeCom))
		case c.Upstream == "":
		case c.Secret == "":
			errs = append(errs, errors.New("farm: an upstream of your own needs the account's secret"))
		case k == KindOfficial && c.AppID == "":
			errs = append(errs, errors.New("farm: an upstream of your own needs the appid of the official account"))
		case k == KindWeCom && (c.CorpID == "" || c.AgentID == ""):
			errs = append(errs, errors.New("farm: an upstream of your own needs the corpid and agent id of the WeCom app"))
		}
	}
	if c.Procs && c.NodeCommand == nil {
		errs = append(errs, errNoNodeCommand)
	}
	if c.Procs && strings.HasPrefix(c.Cache, "memory:") {
		errs = append(errs, errors.New("farm: node processes cannot share memory://; give a store they can all reach"))
	}
	if err := c.Settings.Validate(); err != nil {
		errs = append(errs, err)
	}
	for _, f := range c.Faults {
		if err := f.check(c); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
