package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken/internal/fleet"
	"github.com/wxtoken/wxtoken/internal/localserver"
	"github.com/wxtoken/wxtoken/wxsim"
)

// TestMain doubles as a `wxtoken` process for the end-to-end test: with
// WXTOKEN_E2E_ARGS set, it runs the command line given there and exits;
// with WXTOKEN_BARE_ADDR, it serves barehttp's token handler there.
func TestMain(m *testing.M) {
	if args := os.Getenv("WXTOKEN_E2E_ARGS"); args != "" {
		main2(strings.Fields(args))
		return
	}
	if addr := os.Getenv("WXTOKEN_BARE_ADDR"); addr != "" {
		serveBare(addr) // the floor of BenchmarkTokenRouteAgainstBareHTTP
		return
	}
	os.Exit(m.Run())
}

func main2(args []string) {
	root := newRoot()
	root.SetArgs(args)
	ctx, stop := signalContext()
	defer stop()
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "wxtoken:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

const (
	e2eLifetime = 8 * time.Second
	e2eKey      = "e2e-client-key-for-tests"
)

// upstreamTap sits between the server processes and wxsim: each process
// has its own path prefix, so the test knows which one is fetching, and
// can hold that fetch while it kills the process.
type upstreamTap struct {
	sim     *wxsim.Server
	calls   [3]atomic.Int64
	armed   atomic.Bool
	holding chan int
}

// serverOfPath splits a request to an upstream shared by three server
// processes, each configured with its own prefix /pN, into N and the
// upstream path; false (and 404 answered) for another path.
func serverOfPath(w http.ResponseWriter, r *http.Request) (int, string, bool) {
	var i int
	if _, err := fmt.Sscanf(r.URL.Path, "/p%d/", &i); err != nil || i < 0 || i > 2 {
		http.NotFound(w, r)
		return 0, "", false
	}
	return i, strings.TrimPrefix(r.URL.Path, fmt.Sprintf("/p%d", i)), true
}

func (u *upstreamTap) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	i, path, ok := serverOfPath(w, r)
	if !ok {
		return
	}
	if path == "/cgi-bin/token" {
		u.calls[i].Add(1)
		if u.armed.CompareAndSwap(true, false) {
			u.holding <- i
			<-r.Context().Done() // the process dies holding the lock, mid-fetch
			return
		}
	}
	r2 := r.Clone(r.Context())
	r2.URL.Path = path
	u.sim.Sim.ServeHTTP(w, r2)
}

type e2eServer struct {
	url string
	cmd *exec.Cmd
}

func startServers(t *testing.T, redisAddr, tapURL string) []*e2eServer {
	t.Helper()
	var out []*e2eServer
	dir := t.TempDir()
	for i := range 3 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		cfg := fmt.Sprintf(`listen: %s
cache: redis://%s/0
upstream:
  wechat: %s/p%d
  timeout: 1s
clients:
  - name: biz
    key_env: E2E_CLIENT_KEY
apps:
  - id: biz
    appid: wxe2e
    secret_env: E2E_SECRET
refresh_ahead: 3s
expiry_margin: 800ms
local_ttl: 300ms
lock_ttl: 1500ms
lock_wait: 5s
log:
  level: warn
`, addr, redisAddr, tapURL, i)
		path := filepath.Join(dir, fmt.Sprintf("server%d.yaml", i))
		os.WriteFile(path, []byte(cfg), 0o600)
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "WXTOKEN_E2E_ARGS=serve --config "+path,
			"E2E_CLIENT_KEY="+e2eKey, "E2E_SECRET=e2e-secret")
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		s := &e2eServer{url: "http://" + addr, cmd: cmd}
		t.Cleanup(func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() })
		out = append(out, s)
	}
	for _, s := range out {
		deadline := time.Now().Add(20 * time.Second)
		for {
			resp, err := http.Get(s.url + "/healthz")
			if err == nil {
				resp.Body.Close()
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("server %s did not start: %v", s.url, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return out
}

// load is business traffic through the servers, as business servers
// behind a load balancer would send it: take the token from a server (the
// next one if it does not answer), call the business API with it, and on a
// refusal report the token and count the failure.
type load struct {
	servers []*e2eServer
	simURL  string
	hc      *http.Client

	calls, refused, unserved, failovers atomic.Int64
}

func (l *load) token(ctx context.Context, start int) (string, bool) {
	for k := range len(l.servers) {
		s := l.servers[(start+k)%len(l.servers)]
		req, _ := http.NewRequestWithContext(ctx, "GET", s.url+"/v1/token/biz", nil)
		req.Header.Set("Authorization", "Bearer "+e2eKey)
		resp, err := l.hc.Do(req)
		if err != nil {
			l.failovers.Add(1)
			continue
		}
		var v struct {
			AccessToken string `json:"access_token"`
		}
		json.NewDecoder(resp.Body).Decode(&v)
		resp.Body.Close()
		if resp.StatusCode == 200 {
			return v.AccessToken, true
		}
	}
	return "", false
}

func (l *load) run(ctx context.Context, goroutines int) {
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := g; ctx.Err() == nil; i++ {
				tok, ok := l.token(ctx, i)
				if !ok {
					if ctx.Err() == nil {
						l.unserved.Add(1)
					}
					continue
				}
				resp, err := l.hc.Get(l.simURL + wxsim.BusinessPath + "?access_token=" + tok)
				if err != nil {
					continue
				}
				var v struct {
					Errcode int `json:"errcode"`
				}
				json.NewDecoder(resp.Body).Decode(&v)
				resp.Body.Close()
				l.calls.Add(1)
				if v.Errcode != 0 {
					l.refused.Add(1)
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
	wg.Wait()
}

// Three `wxtoken serve` processes on one Redis: zero refused business
// calls and one upstream call per token lifetime; then the process holding
// the refresh lock is killed mid-refresh, and still no call fails, at the
// cost of at most one extra upstream call.
func TestEndToEndThreeServersOnRedis(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test skipped in -short mode")
	}
	redisSrv := localserver.T(t, localserver.Redis)
	sim := wxsim.NewServer(wxsim.WithLifetime(e2eLifetime), wxsim.WithOverlap(2*time.Second))
	defer sim.Close()
	sim.AddApp("wxe2e", "e2e-secret")
	tap := &upstreamTap{sim: sim, holding: make(chan int, 1)}
	tapSrv := httptest.NewServer(tap)
	defer tapSrv.Close()
	servers := startServers(t, redisSrv.Addr, tapSrv.URL)
	l := &load{servers: servers, simURL: sim.URL, hc: &http.Client{Timeout: 10 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 32}}}

	t.Run("ThreeLifetimes", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 3*e2eLifetime+e2eLifetime/2)
		defer cancel()
		l.run(ctx, 24)
		t.Logf("business calls %d, refused %d, unserved %d; upstream calls by server %d/%d/%d",
			l.calls.Load(), l.refused.Load(), l.unserved.Load(), tap.calls[0].Load(), tap.calls[1].Load(), tap.calls[2].Load())
		if l.calls.Load() == 0 || l.refused.Load() != 0 || l.unserved.Load() != 0 {
			t.Fatalf("rule: zero refused business calls through the servers; calls %d, refused %d, unserved %d",
				l.calls.Load(), l.refused.Load(), l.unserved.Load())
		}
		fleet.CheckRefreshes(t, sim.Issues("token:wxe2e"), e2eLifetime, 3, false)
	})

	t.Run("LockHolderKilledMidRefresh", func(t *testing.T) {
		before := len(sim.Issues("token:wxe2e"))
		l.calls.Store(0)
		tap.armed.Store(true)
		ctx, cancel := context.WithTimeout(context.Background(), 2*e2eLifetime)
		defer cancel()
		done := make(chan struct{})
		go func() { l.run(ctx, 24); close(done) }()
		var victim int
		select {
		case victim = <-tap.holding:
		case <-time.After(2 * e2eLifetime):
			t.Fatal("no server started a refresh")
		}
		servers[victim].cmd.Process.Signal(syscall.SIGKILL)
		servers[victim].cmd.Wait()
		killedAt := time.Now()
		<-done
		issued := sim.Issues("token:wxe2e")[before:]
		t.Logf("killed server %d mid-refresh; afterwards: business calls %d, refused %d, unserved %d, failovers %d, upstream fetches %d",
			victim, l.calls.Load(), l.refused.Load(), l.unserved.Load(), l.failovers.Load(), len(issued))
		if l.refused.Load() != 0 || l.unserved.Load() != 0 {
			t.Fatalf("rule: killing the lock holder mid-refresh fails no call; refused %d, unserved %d", l.refused.Load(), l.unserved.Load())
		}
		if len(issued) == 0 || issued[0].Before(killedAt) {
			t.Fatalf("rule: another server takes over the refresh after the kill; fetches %v", issued)
		}
		// The fetches from the last one before the kill on: one per refresh
		// cycle, with at most one extra for the killed refresh.
		fleet.CheckRefreshes(t, sim.Issues("token:wxe2e")[before-1:], e2eLifetime, 1, true)
	})
}
