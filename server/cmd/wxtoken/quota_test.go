package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/wxtoken/wxtoken/core"
	"github.com/wxtoken/wxtoken/internal/localserver"
	"github.com/wxtoken/wxtoken/server"
	"github.com/wxtoken/wxtoken/wechat"
	"github.com/wxtoken/wxtoken/wxsim"
)

// runIn is run with in as the command's standard input.
func runIn(t *testing.T, in string, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	root := newRoot()
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetIn(strings.NewReader(in))
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	return out.String(), err
}

// `wxtoken quota`, `wxtoken rid` and `wxtoken quota clear` against wxsim,
// on a Redis every invocation shares: the app's token is the fleet's (one
// token call for all of them), upstream's errors come back with their
// errcode, clear asks first, counts its uses in the store and refuses
// past the month's ten without asking upstream.
func TestQuotaRidAndClearCommands(t *testing.T) {
	redisSrv := localserver.T(t, localserver.Redis)
	sim := wxsim.NewServer()
	defer sim.Close()
	sim.AddApp("wxgood", "good-secret-never-shown")
	sim.AddApp("wxother", "other-secret-never-shown")
	t.Setenv("TOOLS_OTHER_SECRET", "other-secret-never-shown")
	t.Setenv("TOOLS_CLIENT_KEY", "tools-client-key-0123456789")
	t.Setenv("TOOLS_GOOD_SECRET", "good-secret-never-shown")
	t.Setenv("TOOLS_CORP_SECRET", "corp-secret-never-shown")
	sim.AddWeComApp("wwcorp", "1000002", "corp-secret-never-shown")
	cfg := fmt.Sprintf(`listen: 127.0.0.1:0
cache: redis://%s/0
upstream: {wechat: %s, wecom: %s}
clients:
  - {name: billing, key_env: TOOLS_CLIENT_KEY}
apps:
  - {id: good, kind: official, appid: wxgood, secret_env: TOOLS_GOOD_SECRET}
  - {id: other, kind: official, appid: wxother, secret_env: TOOLS_OTHER_SECRET}
  - {id: corp, kind: wecom, corpid: wwcorp, agentid: "1000002", secret_env: TOOLS_CORP_SECRET}
`, redisSrv.Addr, sim.URL, sim.URL)
	path := filepath.Join(t.TempDir(), "wxtoken.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	var all strings.Builder
	cmd := func(in string, args ...string) (string, error) {
		out, err := runIn(t, in, append(args, "--config", path)...)
		all.WriteString(out)
		if err != nil {
			all.WriteString(err.Error())
		}
		return out, err
	}

	for range 2 {
		out, err := cmd("", "quota", "--app", "good")
		if err != nil || !strings.Contains(out, "/cgi-bin/token\tused 1 of 2000 today, 1999 left") {
			t.Fatalf("quota: %v\n%s", err, out)
		}
	}
	if n := sim.Stats().TokenCalls(); n != 1 {
		t.Fatalf("%d token calls for two quota commands, want 1: the second must take the fleet's token", n)
	}
	_, err := cmd("", "quota", "--app", "good", "--path", "/sns/oauth2/access_token")
	if err == nil || !strings.Contains(err.Error(), "76022") {
		t.Fatalf("quota of a /sns/ API: %v, want errcode 76022", err)
	}
	_, err = cmd("", "quota", "--app", "good", "--path", "/cgi-bin/no/such/api")
	m := regexp.MustCompile(`rid: ([0-9a-f]+)`).FindStringSubmatch(fmt.Sprint(err))
	if m == nil {
		t.Fatalf("quota of an API that does not exist: %v, want errcode 76021 and its rid", err)
	}
	out, err := cmd("", "rid", "--app", "good", m[1])
	if err != nil || !strings.Contains(out, "76021") || !strings.Contains(out, "access_token=***") {
		t.Fatalf("rid of that failure: %v\n%s", err, out)
	}
	if _, err := cmd("", "quota", "--app", "corp"); err == nil || !strings.Contains(err.Error(), "wecom") {
		t.Fatalf("quota of a WeCom app: %v, want a refusal naming the kind", err)
	}
	if _, err := cmd("", "quota", "--app", "nosuch"); err == nil || !strings.Contains(err.Error(), "nosuch") {
		t.Fatalf("quota of an unknown app: %v", err)
	}

	// clear asks; a wrong answer (or none) clears nothing.
	for _, in := range []string{"", "shop\n", "yes\n"} {
		out, err := cmd(in, "quota", "clear", "--app", "good")
		if !errors.Is(err, errNotConfirmed) || !strings.Contains(out, "Type the app's id") || sim.Clears("wxgood") != 0 {
			t.Fatalf("clear answered %q: %v\n%s\n(upstream clears %d)", in, err, out, sim.Clears("wxgood"))
		}
	}
	out, err = cmd("good\n", "quota", "clear", "--app", "good")
	if err != nil || !strings.Contains(out, "1 of 10 clears used") || sim.Clears("wxgood") != 1 {
		t.Fatalf("clear confirmed: %v\n%s", err, out)
	}
	for i := 2; i <= 10; i++ {
		if out, err := cmd("", "quota", "clear", "--app", "good", "--yes"); err != nil || !strings.Contains(out, fmt.Sprintf("%d of 10", i)) {
			t.Fatalf("clear %d: %v\n%s", i, err, out)
		}
	}
	if _, err := cmd("good\n", "quota", "clear", "--app", "good"); !errors.Is(err, server.ErrClearLimit) {
		t.Fatalf("an eleventh clear: %v, want ErrClearLimit", err)
	}
	if n := sim.Clears("wxgood"); n != 10 {
		t.Fatalf("upstream saw %d clears, want 10: the eleventh must be refused before asking", n)
	}

	// Another system spent the month's clears upstream: the fleet's count
	// knows nothing of them, upstream answers 48006, and the count follows.
	tok, err := wechat.OfficialAccount("wxother", "other-secret-never-shown", wechat.WithBaseURL(sim.URL)).Fetch(context.Background(), core.FetchRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for range 10 {
		if err := wechat.NewTools(wechat.WithBaseURL(sim.URL)).ClearQuota(context.Background(), tok.Value, "wxother"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := cmd("", "quota", "clear", "--app", "other", "--yes"); !errors.Is(err, server.ErrClearLimit) || !strings.Contains(err.Error(), "48006") {
		t.Fatalf("a clear upstream refuses: %v, want ErrClearLimit with errcode 48006", err)
	}
	if _, err := cmd("other\n", "quota", "clear", "--app", "other"); !errors.Is(err, server.ErrClearLimit) || sim.Clears("wxother") != 10 {
		t.Fatalf("the next clear: %v (upstream clears %d), want a refusal by the fleet's count", err, sim.Clears("wxother"))
	}
	if s := all.String(); strings.Contains(s, "never-shown") || strings.Contains(s, "tools-client-key") {
		t.Fatal("a secret appears in the commands' output")
	}
}
