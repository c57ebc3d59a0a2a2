package conformance

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wxtoken/wxtoken/core"
	"github.com/wxtoken/wxtoken/wechat"
	"github.com/wxtoken/wxtoken/wxsim"
)

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

// farmKey is the key every farm node registers its account under.
const farmKey = "app"

// newNodeManager builds a farm node's Manager with margins scaled to the
// lifetime: refresh 3/8 of it ahead, re-check every 300 ms.
func newNodeManager(c NodeConfig, extra ...core.Option) (*core.Manager, error) {
	if c.KeyPrefix == "" {
		c.KeyPrefix = "wxtoken-farm"
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	m := core.New(append([]core.Option{
		core.WithCache(c.Backend),
		core.WithKeyPrefix(c.KeyPrefix),
		core.WithLogger(c.Logger),
		core.WithRefreshAhead(c.Lifetime * 3 / 8),
		core.WithExpiryMargin(c.Lifetime / 10),
		core.WithLocalTTL(300 * time.Millisecond),
		core.WithLockTTL(5 * time.Second),
		core.WithLockWait(8 * time.Second),
	}, extra...)...)
	if err := m.Register(farmKey, wechat.OfficialAccount(c.AppID, c.Secret, wechat.WithBaseURL(c.SimURL))); err != nil {
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
	m, err := newNodeManager(c)
	if err != nil {
		return NodeReport{}, err
	}
	defer m.Close()
	ctx, cancel := context.WithTimeout(ctx, c.Duration)
	defer cancel()
	go m.Run(ctx)
	hc := newHTTPClient(c.Goroutines)
	defer hc.CloseIdleConnections()
	return drive(ctx, m, farmKey, c.Goroutines, checker{url: c.SimURL, hc: hc}), nil
}

// DriveFleet runs goroutines callers of key on every Manager of ms until
// ctx ends, against the simulator at simURL: each takes a token, and every
// tenth time spends it on the simulator's business API
// (wxsim.BusinessPath), as an application would, reporting a refused
// token with Invalidate. It returns what all the callers saw.
func DriveFleet(ctx context.Context, ms []*core.Manager, key string, goroutines int, simURL string) NodeReport {
	return driveFleet(ctx, ms, key, goroutines, checker{url: simURL, hc: newHTTPClient(goroutines * len(ms))})
}

func driveFleet(ctx context.Context, ms []*core.Manager, key string, goroutines int, c checker) NodeReport {
	reports := make([]NodeReport, len(ms))
	var wg sync.WaitGroup
	for i, m := range ms {
		wg.Go(func() { reports[i] = drive(ctx, m, key, goroutines, c) })
	}
	wg.Wait()
	var total NodeReport
	for _, r := range reports {
		total.Add(r)
	}
	return total
}

func drive(ctx context.Context, m *core.Manager, key string, goroutines int, c checker) NodeReport {
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
					code, err := c.check(ctx, tok.Value)
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

// checker calls wxsim's business API.
type checker struct {
	url string
	hc  *http.Client
}

// check calls the business API with tok and returns its errcode (0: OK).
func (c checker) check(ctx context.Context, tok string) (int, error) {
	return wxsim.Check(ctx, c.hc, c.url, tok)
}

// newHTTPClient returns a client for business calls from conns callers.
func newHTTPClient(conns int) *http.Client {
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: conns}}
}
