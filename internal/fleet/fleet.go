// Package fleet drives a fleet of Managers the way an application does, for
// the conformance suites and the tests of every module: nodes on one store
// against wxsim, each caller taking a token and spending it on the
// simulator's business API. It is not public API.
package fleet

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wxtoken/wxtoken/core"
	"github.com/wxtoken/wxtoken/store"
	"github.com/wxtoken/wxtoken/wechat"
	"github.com/wxtoken/wxtoken/wxsim"
)

// Backend is store.Backend: the shared Cache and the fleet Locker.
type Backend = store.Backend

// NodeConfig describes one node of a farm: a Manager on Backend serving
// one official account from the wxsim at SimURL, as TestFarm runs eight of
// them. RunNode runs one, for farms whose nodes are separate processes.
type NodeConfig struct {
	Backend    Backend
	SimURL     string
	AppID      string
	Secret     string
	Lifetime   time.Duration // the lifetime wxsim grants; sets the margins
	KeyPrefix  string        // shared by every node of the farm; default "wxtoken-farm"
	Goroutines int           // callers; default 64
	Duration   time.Duration // how long RunNode drives traffic
	Logger     *slog.Logger  // default: warnings to stderr
	// Tune, when set, adjusts the node's Settings after the farm's own
	// (margins scaled to Lifetime) are filled in.
	Tune func(*core.Settings)
}

// NodeReport counts what a node's callers saw.
type NodeReport struct {
	Served      int   // tokens returned by Token
	Checks      int   // business API calls completed
	Refused     int   // of those, answered 40001/42001 (or any errcode)
	TokenErrors int   // Token calls that failed
	FirstError  error `json:"-"`
}

// Add sums o into r.
func (r *NodeReport) Add(o NodeReport) {
	r.Served += o.Served
	r.Checks += o.Checks
	r.Refused += o.Refused
	r.TokenErrors += o.TokenErrors
	if r.FirstError == nil {
		r.FirstError = o.FirstError
	}
}

// Key is the key every farm node registers its account under.
const Key = "app"

// NewNodeManager builds a farm node's Manager with margins scaled to the
// lifetime: refresh 3/8 of it ahead, re-check every 300 ms.
func NewNodeManager(c NodeConfig) (*core.Manager, error) {
	if c.KeyPrefix == "" {
		c.KeyPrefix = "wxtoken-farm"
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	s := core.Settings{
		KeyPrefix:    c.KeyPrefix,
		RefreshAhead: c.Lifetime * 3 / 8,
		ExpiryMargin: c.Lifetime / 10,
		LocalTTL:     300 * time.Millisecond,
		LockTTL:      5 * time.Second,
		LockWait:     8 * time.Second,
	}
	if c.Tune != nil {
		c.Tune(&s)
	}
	m := core.New(core.WithCache(c.Backend), core.WithLogger(c.Logger), core.WithSettings(s))
	if err := m.Register(Key, wechat.OfficialAccount(c.AppID, c.Secret, wechat.WithBaseURL(c.SimURL))); err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

// RunNode runs one farm node for c.Duration, with its proactive refresh,
// and reports what its callers saw.
func RunNode(ctx context.Context, c NodeConfig) (NodeReport, error) {
	if c.Goroutines <= 0 {
		c.Goroutines = 64
	}
	m, err := NewNodeManager(c)
	if err != nil {
		return NodeReport{}, err
	}
	defer m.Close()
	ctx, cancel := context.WithTimeout(ctx, c.Duration)
	defer cancel()
	go m.Run(ctx)
	ch := NewChecker(c.SimURL, c.Goroutines)
	defer ch.hc.CloseIdleConnections()
	return Drive(ctx, m, Key, c.Goroutines, ch), nil
}

// DriveFleet runs goroutines callers of key on every Manager of ms until
// ctx ends, against the simulator at simURL: each takes a token, and every
// tenth time spends it on the simulator's business API
// (wxsim.BusinessPath), as an application would, reporting a refused
// token with Invalidate. It returns what all the callers saw.
func DriveFleet(ctx context.Context, ms []*core.Manager, key string, goroutines int, simURL string) NodeReport {
	return DriveFleetWith(ctx, ms, key, goroutines, NewChecker(simURL, goroutines*len(ms)))
}

// DriveFleetWith is DriveFleet with a Checker of the caller's.
func DriveFleetWith(ctx context.Context, ms []*core.Manager, key string, goroutines int, c Checker) NodeReport {
	reports := make([]NodeReport, len(ms))
	var wg sync.WaitGroup
	for i, m := range ms {
		wg.Go(func() { reports[i] = Drive(ctx, m, key, goroutines, c) })
	}
	wg.Wait()
	var total NodeReport
	for _, r := range reports {
		total.Add(r)
	}
	return total
}

// Drive runs goroutines callers of key on m until ctx ends, as DriveFleet
// does on each of its Managers.
func Drive(ctx context.Context, m *core.Manager, key string, goroutines int, c Checker) NodeReport {
	var served, checks, refused, tokenErrs atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				tok, err := m.Token(ctx, key)
				if err != nil {
					if ctx.Err() == nil {
						tokenErrs.Add(1)
						once.Do(func() { firstErr = err })
					}
					continue
				}
				served.Add(1)
				if i%10 == 0 {
					code, err := c.Check(ctx, tok.Value)
					if err == nil {
						checks.Add(1)
					}
					if code != 0 {
						refused.Add(1)
						_, _ = m.Invalidate(ctx, key, tok.Value)
					}
				}
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
	wg.Wait()
	return NodeReport{Served: int(served.Load()), Checks: int(checks.Load()), Refused: int(refused.Load()),
		TokenErrors: int(tokenErrs.Load()), FirstError: firstErr}
}

// Checker calls wxsim's business API.
type Checker struct {
	url string
	hc  *http.Client
}

// NewChecker returns a Checker of the simulator at simURL for conns
// callers at once.
func NewChecker(simURL string, conns int) Checker {
	return Checker{url: simURL, hc: &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: conns}}}
}

// Check calls the business API with tok and returns its errcode (0: OK).
func (c Checker) Check(ctx context.Context, tok string) (int, error) {
	return wxsim.Check(ctx, c.hc, c.url, tok)
}
