package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken/core"
	"github.com/wxtoken/wxtoken/server/internal/barehttp"
)

const bareKey = "bench-client-key-0123456789"

// serveBare serves barehttp's token handler on addr until killed: the
// floor BenchmarkTokenRouteAgainstBareHTTP measures `wxtoken serve`
// against, in a process of its own as the server is.
func serveBare(addr string) {
	m := core.New()
	if err := m.Register("demo", barehttp.Source{}); err != nil {
		panic(err)
	}
	if _, err := m.Token(context.Background(), "demo"); err != nil {
		panic(err)
	}
	// The http.Server as serve configures it: the handlers are compared.
	srv := &http.Server{Addr: addr, Handler: barehttp.TokenHandler(m, bareKey, "another-client-key-0123"),
		ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 40 * time.Second, IdleTimeout: 2 * time.Minute}
	fmt.Fprintln(os.Stderr, srv.ListenAndServe())
	os.Exit(1)
}

// BenchmarkTokenRouteAgainstBareHTTP measures GET /v1/token/{app} of a
// real `wxtoken serve` process from outside, with wrk, against a plain
// net/http process doing the same key check and JSON (barehttp): rounds
// alternate which goes first, and the report is each one's median
// requests a second and their ratio. Run it alone (it loads the machine):
//
//	go test -run XXX -bench TokenRouteAgainstBareHTTP -benchtime 1x ./cmd/wxtoken
func BenchmarkTokenRouteAgainstBareHTTP(b *testing.B) {
	wrk, err := exec.LookPath("wrk")
	if err != nil {
		b.Skip("wrk is not installed (Debian's wrk package)")
	}
	self, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	serverAddr, bareAddr := freeAddr(b), freeAddr(b)
	cfg := filepath.Join(b.TempDir(), "wxtoken.yaml")
	os.WriteFile(cfg, []byte(`listen: `+serverAddr+`
cache: memory://
upstream: {wechat: sim, wecom: sim}
clients:
  - {name: bench, key_env: BENCH_KEY}
  - {name: other, key_env: OTHER_KEY}
apps:
  - {id: demo, kind: official, appid: wxbench000000001, secret_env: BENCH_SECRET}
log: {level: warn}
`), 0o600)
	start := func(env ...string) {
		cmd := exec.Command(self)
		cmd.Env = append(os.Environ(), env...)
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	}
	start("WXTOKEN_E2E_ARGS=serve --config "+cfg, "BENCH_KEY="+bareKey, "OTHER_KEY=another-client-key-0123", "BENCH_SECRET=bench-secret-value")
	start("WXTOKEN_BARE_ADDR=" + bareAddr)
	targets := map[string]string{"wxtoken": "http://" + serverAddr + "/v1/token/demo", "bare": "http://" + bareAddr + "/v1/token/demo"}
	for name, url := range targets {
		waitForToken(b, name, url)
	}
	rps := regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	results := map[string][]float64{}
	const rounds = 10
	for round := range rounds {
		order := []string{"wxtoken", "bare"}
		if round%2 == 1 {
			order = []string{"bare", "wxtoken"}
		}
		for _, name := range order {
			out, err := exec.Command(wrk, "-t1", "-c32", "-d5s", "-H", "Authorization: Bearer "+bareKey, targets[name]).CombinedOutput()
			m := rps.FindSubmatch(out)
			if err != nil || m == nil {
				b.Fatalf("wrk against %s: %v\n%s", name, err, out)
			}
			v, _ := strconv.ParseFloat(string(m[1]), 64)
			results[name] = append(results[name], v)
		}
	}
	median := func(v []float64) float64 {
		v = slices.Clone(v)
		slices.Sort(v)
		return (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	w, bare := median(results["wxtoken"]), median(results["bare"])
	b.Logf("wrk -t1 -c32 -d5s, %d rounds alternated: wxtoken %v req/s, bare %v req/s", rounds, results["wxtoken"], results["bare"])
	b.ReportMetric(w, "wxtoken-req/s")
	b.ReportMetric(bare, "bare-req/s")
	b.ReportMetric(w/bare, "ratio")
}

func freeAddr(b *testing.B) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func waitForToken(b *testing.B, name, url string) {
	deadline := time.Now().Add(15 * time.Second)
	for {
		req, _ := http.NewRequest("GET", url, nil)
		req.Header.Set("Authorization", "Bearer "+bareKey)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			b.Fatalf("%s did not serve a token: %v %v", name, resp, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
