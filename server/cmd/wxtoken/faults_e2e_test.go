package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken/internal/localserver"
	"github.com/wxtoken/wxtoken/wxsim"
)

// storeProxy is one server's route to the store: a TCP proxy that can be
// frozen, holding every byte in both directions as a dropped route does,
// until it thaws.
type storeProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	thawed chan struct{} // closed while the route is up
}

func newStoreProxy(t *testing.T, target string) *storeProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &storeProxy{ln: ln, target: target, thawed: make(chan struct{})}
	close(p.thawed)
	t.Cleanup(func() { p.thaw(); ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.serve(c)
		}
	}()
	return p
}

func (p *storeProxy) addr() string { return p.ln.Addr().String() }

func (p *storeProxy) freeze() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.thawed:
		p.thawed = make(chan struct{})
	default:
	}
}

func (p *storeProxy) thaw() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.thawed:
	default:
		close(p.thawed)
	}
}

func (p *storeProxy) wait() {
	p.mu.Lock()
	ch := p.thawed
	p.mu.Unlock()
	<-ch
}

func (p *storeProxy) serve(c net.Conn) {
	defer c.Close()
	p.wait() // a frozen route does not even connect
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	defer up.Close()
	pipe := func(dst, src net.Conn) {
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				p.wait()
				if _, werr := dst.Write(buf[:n]); werr != nil {
					break
				}
			}
			if err != nil {
				break
			}
		}
		dst.Close()
		src.Close()
	}
	go pipe(up, c)
	pipe(c, up)
}

// faultyUpstream sits between the server processes and wxsim, each process
// on its own path prefix: it delays every token call, fails every fifth
// with errcode -1, and, while armed, freezes the process whose token call
// just arrived (SIGSTOP) for a while.
type faultyUpstream struct {
	sim       *wxsim.Server
	latency   time.Duration
	calls     atomic.Int64
	pid       [3]atomic.Int64
	pauses    atomic.Int64 // token calls left to freeze the sender of
	pauseFor  time.Duration
	notBefore atomic.Int64 // Unix ns before which no process is frozen
	paused    chan int
}

func (u *faultyUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	i, path, ok := serverOfPath(w, r)
	if !ok {
		return
	}
	if path == "/cgi-bin/token" {
		n := u.calls.Add(1)
		if time.Now().UnixNano() >= u.notBefore.Load() && u.pauses.Add(-1) >= 0 {
			pid := int(u.pid[i].Load())
			_ = syscall.Kill(pid, syscall.SIGSTOP)
			u.notBefore.Store(time.Now().Add(3 * u.pauseFor).UnixNano())
			u.paused <- i
			time.AfterFunc(u.pauseFor, func() { _ = syscall.Kill(pid, syscall.SIGCONT) })
		}
		time.Sleep(u.latency)
		if n%5 == 0 {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"errcode":-1,"errmsg":"system error"}`)
			return
		}
	}
	r2 := r.Clone(r.Context())
	r2.URL.Path = path
	u.sim.Sim.ServeHTTP(w, r2)
}

// reportingLoad is business traffic as the documented clients send it,
// from a client that knows every instance: take the token from a server
// (the next one if it does not answer), spend it, and on a refusal report
// it to the same server and retry (see repair). A call fails when no
// server hands out a token or the retries are refused too.
type reportingLoad struct {
	servers []string
	simURL  string
	hc      *http.Client

	calls, repaired, failovers atomic.Int64
	mu                         sync.Mutex
	failed                     []string // what each failed call saw, with its time
}

func (l *reportingLoad) fail(what string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.failed = append(l.failed, time.Now().Format("15:04:05.000")+" "+what)
}

func (l *reportingLoad) do(ctx context.Context, method, url string, body []byte) (int, []byte, error) {
	req, _ := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+e2eKey)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := l.hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// token asks the servers from start on; it returns the token and the
// server that answered.
func (l *reportingLoad) token(ctx context.Context, start int) (string, int, string) {
	var why []string
	for k := range len(l.servers) {
		i := (start + k) % len(l.servers)
		code, b, err := l.do(ctx, "GET", l.servers[i]+"/v1/token/biz", nil)
		var v struct {
			AccessToken string `json:"access_token"`
		}
		if err == nil && code == 200 && json.Unmarshal(b, &v) == nil {
			return v.AccessToken, i, ""
		}
		why = append(why, fmt.Sprintf("server %d: %d %v %s", i, code, err, bytes.TrimSpace(b)))
	}
	return "", -1, strings.Join(why, "; ")
}

func (l *reportingLoad) check(ctx context.Context, tok string) int {
	resp, err := l.hc.Get(l.simURL + wxsim.BusinessPath + "?access_token=" + tok)
	if err != nil {
		return -2
	}
	defer resp.Body.Close()
	var v struct {
		Errcode int `json:"errcode"`
	}
	json.NewDecoder(resp.Body).Decode(&v)
	return v.Errcode
}

func (l *reportingLoad) run(ctx context.Context, goroutines int) {
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := g; ctx.Err() == nil; i++ {
				tok, srv, why := l.token(ctx, i)
				if tok == "" {
					if ctx.Err() == nil {
						l.fail("no token: " + why)
					}
					continue
				}
				if code := l.check(ctx, tok); code != 0 {
					if why := l.repair(ctx, tok, srv, code); why != "" {
						if ctx.Err() == nil {
							l.fail(why)
						}
						continue
					}
				}
				l.calls.Add(1)
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
	wg.Wait()
}

// repair follows a refusal of tok, which server srv handed out: report it
// there and retry with the token answered; if the report is not answered
// (no answer or a 5xx: a 4xx is a refusal the fleet would repeat), or its
// answer is refused too (an instance cut off from the store cannot know
// that the token it fetched alone was retired meanwhile), take the token
// from the next instance and retry with that. It returns why the call
// failed, or "".
func (l *reportingLoad) repair(ctx context.Context, tok string, srv, code int) string {
	body, _ := json.Marshal(map[string]string{"access_token": tok})
	st, b, err := l.do(ctx, "POST", l.servers[srv]+"/v1/token/biz/invalidate", body)
	var v struct {
		AccessToken string `json:"access_token"`
	}
	if err == nil && st == 200 && json.Unmarshal(b, &v) == nil {
		if l.check(ctx, v.AccessToken) == 0 {
			l.repaired.Add(1)
			return ""
		}
	}
	if err == nil && st >= 400 && st < 500 {
		// Refused, not unavailable: the fleet would refuse it anywhere.
		return fmt.Sprintf("errcode %d, report to server %d refused: %d %s", code, srv, st, bytes.TrimSpace(b))
	}
	other, _, why := l.token(ctx, srv+1)
	if other == "" {
		return fmt.Sprintf("errcode %d, report to server %d: %d %v %s; no other server: %s", code, srv, st, err, bytes.TrimSpace(b), why)
	}
	if code2 := l.check(ctx, other); code2 != 0 {
		return fmt.Sprintf("errcode %d, report to server %d: %d %v %s; the next server's token: errcode %d", code, srv, st, err, bytes.TrimSpace(b), code2)
	}
	l.repaired.Add(1)
	l.failovers.Add(1)
	return ""
}

// Three `wxtoken serve` processes on one Redis, each through a route of
// its own, against an upstream that answers token calls slowly and fails
// every fifth; twice, the process whose token call just reached upstream
// is frozen (SIGSTOP) for longer than its lock lease; and one server's
// route to the store is frozen for longer than a token lifetime. Business
// calls, reported and retried as the clients do, must not fail.
func TestEndToEndThreeServersThroughFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test skipped in -short mode")
	}
	// Compressed, with the proportions production keeps: the old token
	// outlives a freeze and the lease after it (overlap > pause + lock
	// TTL, as 5 minutes outlive both), and a token refreshed at half its
	// life is retired before it expires, so an instance cut off from the
	// store hands out a dead one and its callers report it.
	const life = 12 * time.Second
	sc := faultScenario{life: life, overlap: 4 * time.Second, latency: 300 * time.Millisecond,
		pause: 2 * time.Second, cutAt: life + life/4, cutFor: life + life/2, run: 3*life + life/2,
		settings: "local_ttl: 300ms\nlock_ttl: 1500ms\nlock_wait: 5s\ncache_timeout: 500ms\ndegraded_after: 2s\ndegraded_interval: 3s\nupstream_timeout: 1s\n"}
	if os.Getenv("WXTOKEN_FAULTS_E2E") == "operator" {
		// What an operator tried: 40 s tokens, 1.5 s upstream, 8 s
		// freezes, a 50 s cut, every setting at its default.
		sc = faultScenario{life: 40 * time.Second, overlap: 5 * time.Second, latency: 1500 * time.Millisecond,
			pause: 8 * time.Second, cutAt: 30 * time.Second, cutFor: 50 * time.Second, run: 150 * time.Second}
	}
	redisSrv := localserver.T(t, localserver.Redis)
	sim := wxsim.NewServer(wxsim.WithLifetime(sc.life), wxsim.WithOverlap(sc.overlap))
	defer sim.Close()
	sim.AddApp("wxe2e", "e2e-secret")
	up := &faultyUpstream{sim: sim, latency: sc.latency, pauseFor: sc.pause, paused: make(chan int, 2)}
	upSrv := httptest.NewServer(up)
	defer upSrv.Close()

	dir := t.TempDir()
	var urls []string
	var routes []*storeProxy
	for i := range 3 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		route := newStoreProxy(t, redisSrv.Addr)
		routes = append(routes, route)
		cfg := fmt.Sprintf(`listen: %s
cache: redis://%s/0
upstream:
  wechat: %s/p%d
%sclients:
  - name: biz
    key_env: E2E_CLIENT_KEY
apps:
  - id: biz
    appid: wxe2e
    secret_env: E2E_SECRET
%slog:
  level: info
`, addr, route.addr(), upSrv.URL, i, sc.upstreamTimeout(), sc.settingLines())
		path := filepath.Join(dir, fmt.Sprintf("server%d.yaml", i))
		os.WriteFile(path, []byte(cfg), 0o600)
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "WXTOKEN_E2E_ARGS=serve --config "+path,
			"E2E_CLIENT_KEY="+e2eKey, "E2E_SECRET=e2e-secret")
		cmd.Stderr = &prefixed{prefix: fmt.Sprintf("[server %d] ", i), w: os.Stderr}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		up.pid[i].Store(int64(cmd.Process.Pid))
		t.Cleanup(func() { cmd.Process.Signal(syscall.SIGCONT); cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() })
		urls = append(urls, "http://"+addr)
	}
	for _, u := range urls {
		waitHealthy(t, u)
	}
	// The documented clients' patience: 35 s, past the server's 30 s
	// request_timeout.
	l := &reportingLoad{servers: urls, simURL: sim.URL, hc: &http.Client{Timeout: 35 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 32}}}

	ctx, cancel := context.WithTimeout(context.Background(), sc.run)
	defer cancel()
	up.notBefore.Store(time.Now().Add(sc.life / 2).UnixNano())
	up.pauses.Store(2)
	readiness := make(chan []int, 2)
	go func() {
		// Server 2's route to the store freezes for longer than a lifetime.
		if !sleepCtx(ctx, sc.cutAt) {
			return
		}
		routes[2].freeze()
		t.Logf("%s: server 2's route to the store frozen", time.Now().Format("15:04:05.000"))
		// Readiness follows the store, so a balancer routes around the
		// instance that cannot reach it, and only around that one.
		readiness <- readyz(urls)
		sleepCtx(ctx, sc.cutFor)
		routes[2].thaw()
		t.Logf("%s: server 2's route to the store thawed", time.Now().Format("15:04:05.000"))
		sleepCtx(ctx, 2*time.Second)
		readiness <- readyz(urls)
	}()
	go func() {
		for range 2 {
			select {
			case i := <-up.paused:
				t.Logf("%s: server %d frozen right after its token call reached upstream", time.Now().Format("15:04:05.000"), i)
			case <-ctx.Done():
				return
			}
		}
	}()
	l.run(ctx, 24)
	issued := len(sim.Issues("token:wxe2e"))
	t.Logf("business calls %d (repaired after a report %d, of them through another server %d), failed %d; token calls %d, tokens issued %d",
		l.calls.Load(), l.repaired.Load(), l.failovers.Load(), len(l.failed), up.calls.Load(), issued)
	for _, f := range l.failed {
		t.Log("failed: " + f)
	}
	if l.calls.Load() == 0 || len(l.failed) != 0 {
		t.Fatalf("rule: no business call fails through a frozen holder and a frozen route; %d failed", len(l.failed))
	}
	for i, want := range [][]int{{200, 200, 503}, {200, 200, 200}} {
		select {
		case got := <-readiness:
			if !slices.Equal(got, want) {
				t.Errorf("/readyz of the three servers %s the cut: %v, want %v", []string{"during", "after"}[i], got, want)
			}
		default:
			t.Errorf("/readyz was not asked %s the cut", []string{"during", "after"}[i])
		}
	}
	if up.pauses.Load() > 0 {
		t.Fatalf("only %d of 2 freezes happened", 2-up.pauses.Load())
	}
}

// prefixed writes each line to w after prefix: whose log line it is.
type prefixed struct {
	prefix string
	w      io.Writer
	mu     sync.Mutex
	part   []byte
}

func (p *prefixed) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.part = append(p.part, b...)
	for {
		i := bytes.IndexByte(p.part, '\n')
		if i < 0 {
			return len(b), nil
		}
		fmt.Fprintf(p.w, "%s%s\n", p.prefix, p.part[:i])
		p.part = p.part[i+1:]
	}
}

// faultScenario is the timing of TestEndToEndThreeServersThroughFaults.
type faultScenario struct {
	life, overlap, latency, pause, cutAt, cutFor, run time.Duration
	settings                                          string // config lines; "" keeps the defaults
}

func (sc faultScenario) upstreamTimeout() string {
	if strings.Contains(sc.settings, "upstream_timeout: ") {
		v := strings.SplitN(strings.SplitN(sc.settings, "upstream_timeout: ", 2)[1], "\n", 2)[0]
		return "  timeout: " + v + "\n"
	}
	return ""
}

func (sc faultScenario) settingLines() string {
	var out []string
	for _, l := range strings.Split(sc.settings, "\n") {
		if l != "" && !strings.HasPrefix(l, "upstream_timeout:") {
			out = append(out, l+"\n")
		}
	}
	return strings.Join(out, "")
}

// readyz returns the status of each server's GET /readyz.
func readyz(urls []string) []int {
	out := make([]int, len(urls))
	hc := &http.Client{Timeout: 10 * time.Second}
	for i, u := range urls {
		if resp, err := hc.Get(u + "/readyz"); err == nil {
			out[i] = resp.StatusCode
			resp.Body.Close()
		}
	}
	return out
}

// sleepCtx waits d; false if ctx ended first.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
