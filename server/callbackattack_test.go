package server_test

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"encoding/binary"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken/server"
	"github.com/wxtoken/wxtoken/wechat/callback"
	"github.com/wxtoken/wxtoken/wxsim"
)

// sealRaw encrypts plain as it is (no framing, no padding added) with the
// callback key, and signs it with the callback Token: a message whose
// signature is right and whose content is whatever the test wants, as an
// attacker who knows the Token and is probing for the key would send.
func sealRaw(t *testing.T, plain []byte, at time.Time, nonce string) (url.Values, []byte, string) {
	t.Helper()
	key, err := base64.StdEncoding.DecodeString(cbAESKey + "=")
	if err != nil {
		t.Fatal(err)
	}
	block, _ := aes.NewCipher(key)
	out := make([]byte, len(plain))
	cipher.NewCBCEncrypter(block, key[:16]).CryptBlocks(out, plain)
	enc := base64.StdEncoding.EncodeToString(out)
	crypto, _ := callback.New(cbToken, cbAESKey, "wwsuite01")
	ts := fmt.Sprint(at.Unix())
	q := url.Values{"msg_signature": {crypto.Signature(ts, nonce, enc)}, "timestamp": {ts}, "nonce": {nonce}}
	body := []byte("<xml><ToUserName>wwsuite01</ToUserName><Encrypt>" + enc + "</Encrypt></xml>")
	return q, body, enc
}

// frame builds a plaintext as the scheme does: 16 random bytes, the
// length, the message, the receiver, then pad (to 32-byte blocks) if
// pad is true.
func frame(msg []byte, length uint32, receiver string, pad bool) []byte {
	var b bytes.Buffer
	b.Write(bytes.Repeat([]byte{7}, 16))
	binary.Write(&b, binary.BigEndian, length)
	b.Write(msg)
	b.WriteString(receiver)
	n := 32 - b.Len()%32
	if pad {
		b.Write(bytes.Repeat([]byte{byte(n)}, n))
	} else {
		b.Write(bytes.Repeat([]byte{0x41}, n)) // not a padding
	}
	return b.Bytes()
}

// With the callback Token but not the key, the route must tell an
// attacker nothing: bad padding, a length that overruns, a wrong receiver
// byte, a message that is not XML and a wrong signature all get the same
// answer, byte for byte. Before, each had its own text (a padding oracle:
// a CBC-R forgery of cancel_auth took 14,788 queries).
func TestCallbackIsNoPaddingOracle(t *testing.T) {
	e := tenantEnv(t)
	now := time.Now()
	msg := []byte("<xml><InfoType>cancel_auth</InfoType><AuthCorpId>wwtenant01</AuthCorpId></xml>")
	answers := map[string]string{}
	for i, c := range []struct {
		name  string
		plain []byte
	}{
		{"bad padding", frame(msg, uint32(len(msg)), "wwsuite01", false)},
		{"length overruns", frame(msg, uint32(len(msg))+40, "wwsuite01", true)},
		{"wrong receiver byte", frame(msg, uint32(len(msg)), "wwsuite02", true)},
		{"not XML", frame([]byte("hello, not xml at all"), 21, "wwsuite01", true)},
	} {
		q, body, _ := sealRaw(t, c.plain, now, fmt.Sprint("n", i))
		code, b := e.do("POST", "/v1/callback/suite?"+q.Encode(), "", bytes.NewReader(body))
		answers[c.name] = fmt.Sprintf("%d %s", code, b)
	}
	q, body, _ := sealRaw(t, frame(msg, uint32(len(msg)), "wwsuite01", false), now, "nx")
	q.Set("msg_signature", strings.Repeat("0", 40))
	code, b := e.do("POST", "/v1/callback/suite?"+q.Encode(), "", bytes.NewReader(body))
	answers["wrong signature"] = fmt.Sprintf("%d %s", code, b)
	want := "403 " + refusedBody
	for name, got := range answers {
		if got != want {
			t.Errorf("rule: every refused callback gets one answer; %s: %q, want %q", name, got, want)
		}
	}
	// The metrics say a message was refused after its signature, and no
	// more: a metric that told bad padding from a wrong receiver would be
	// the same oracle for whoever reads /metrics.
	_, metrics := e.do("GET", "/metrics", billingKey, nil)
	if !strings.Contains(string(metrics), `app="suite",event="unknown",outcome="undecryptable"} 4`) {
		t.Errorf("the metrics do not count the 4 undecryptable messages as one outcome:\n%s", grepLines(string(metrics), "wxtoken_callbacks_total"))
	}
	if strings.Contains(string(metrics), `outcome="receiver"`) {
		t.Error("rule: the metrics do not tell a wrong receiver from bad padding")
	}
}

// grepLines returns the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// URL verification decrypts only a verification's random string: a
// captured push sent back as echostr (signed with the Token, which is all
// that takes) is refused with the one answer, not decrypted. Before, the
// create_auth came back as plaintext, AuthCode and all.
func TestVerifyURLDecryptsNoPush(t *testing.T) {
	e := tenantEnv(t)
	crypto, _ := callback.New(cbToken, cbAESKey, "wwsuite01")
	push, _ := callback.Event{InfoType: callback.InfoCreateAuth, SuiteID: "wwsuite01", TimeStamp: time.Now().Unix(), AuthCode: "secret-auth-code"}.Marshal()
	enc, _ := crypto.Encrypt(push)
	ts := fmt.Sprint(time.Now().Unix())
	q := url.Values{"msg_signature": {crypto.Signature(ts, "n", enc)}, "timestamp": {ts}, "nonce": {"n"}, "echostr": {enc}}
	code, body := e.do("GET", "/v1/callback/suite?"+q.Encode(), "", nil)
	if strings.Contains(string(body), "secret-auth-code") || code != 403 || string(body) != refusedBody {
		t.Fatalf("rule: URL verification decrypts no push; a create_auth as echostr: %d %s", code, body)
	}
}

// A caller whose signatures keep failing is guessing the Token: after its
// address's budget it is refused unseen (429) for a while. Before, 20,000
// guesses took 0.3 s. Behind a trusted proxy the address is the sender's
// (X-Forwarded-For), so the attacker's budget is spent and upstream's
// genuine push, from another address, still lands.
func TestFailedSignaturesAreRateLimited(t *testing.T) {
	e := tenantEnv(t, func(c *server.Config) { c.TrustedProxies = []string{"127.0.0.1/32"} })
	now := time.Now()
	q, body, _ := sealRaw(t, frame([]byte("x"), 1, "wwsuite01", true), now, "n")
	q.Set("msg_signature", strings.Repeat("1", 40))
	limited := 0
	for range 40 {
		req, _ := http.NewRequest("POST", e.http.URL+"/v1/callback/suite?"+q.Encode(), bytes.NewReader(body))
		req.Header.Set("X-Forwarded-For", "203.0.113.7")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusTooManyRequests {
			limited++
		}
	}
	if limited < 15 {
		t.Fatalf("rule: failed signatures are rate limited per address; %d of 40 guesses refused unseen, want at least 15", limited)
	}
	_, metrics := e.do("GET", "/metrics", billingKey, nil)
	if !strings.Contains(string(metrics), `outcome="rate_limited"`) {
		t.Error("the metrics do not count the rate-limited callbacks")
	}
	// Upstream, from its own address, is not shut out.
	if _, err := e.sim.DeliverSuiteTicket(context.Background(), "wwsuite01"); err != nil {
		t.Fatalf("rule: the attacker's budget does not stop upstream's push: %v", err)
	}
	e.waitToken("/v1/token/suite", billingKey)
}

// capture stands between wxsim and the server's callback route, keeping a
// copy of every push it forwards.
type capture struct {
	mu     sync.Mutex
	pushes []capturedPush
}

type capturedPush struct {
	query string
	body  []byte
}

func (c *capture) server(t *testing.T, target string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		c.mu.Lock()
		c.pushes = append(c.pushes, capturedPush{r.URL.RawQuery, body})
		c.mu.Unlock()
		resp, err := http.Post(target+"?"+r.URL.RawQuery, "text/xml", bytes.NewReader(body))
		if err != nil {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func (c *capture) snapshot() []capturedPush {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]capturedPush(nil), c.pushes...)
}

func (c *capture) last() capturedPush {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pushes[len(c.pushes)-1]
}

// Captured pushes replayed within the timestamp window do nothing: a
// create_auth replayed 50 times is one get_permanent_code exchange, and a
// cancel_auth replayed after the corp installed again leaves it installed.
// Before, 50 replays made 51 exchanges and the replayed cancel removed
// the corp.
func TestReplayedPushesDoNothing(t *testing.T) {
	e := tenantEnv(t)
	ctx := context.Background()
	c := &capture{}
	proxy := c.server(t, e.http.URL+"/v1/callback/suite")
	if err := e.sim.SetSuiteCallback("wwsuite01", wxsim.Callback{URL: proxy.URL, Token: cbToken, EncodingAESKey: cbAESKey}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.sim.DeliverSuiteTicket(ctx, "wwsuite01"); err != nil {
		t.Fatal(err)
	}
	e.waitToken("/v1/token/suite", billingKey)
	if _, err := e.sim.InstallCorp(ctx, "wwsuite01", "wwtenant01"); err != nil {
		t.Fatal(err)
	}
	install := c.last()
	e.waitToken("/v1/token/suite/tenants/wwtenant01", billingKey)
	replay := func(p capturedPush) (int, string) {
		code, body := e.do("POST", "/v1/callback/suite?"+p.query, "", bytes.NewReader(p.body))
		return code, string(body)
	}
	for range 50 {
		if code, body := replay(install); code != 200 || body != "success" {
			t.Fatalf("a replay is answered success and does nothing; got %d %s", code, body)
		}
	}
	// Re-signed with a nonce and timestamp of its own (the Token is all
	// that takes), it is the same message: the ciphertext names it.
	crypto, _ := callback.New(cbToken, cbAESKey, "wwsuite01")
	var env callback.Envelope
	if err := xml.Unmarshal(install.body, &env); err != nil {
		t.Fatal(err)
	}
	ts := fmt.Sprint(time.Now().Unix())
	resigned := capturedPush{url.Values{"msg_signature": {crypto.Signature(ts, "another-nonce", env.Encrypt)}, "timestamp": {ts}, "nonce": {"another-nonce"}}.Encode(), install.body}
	if code, body := replay(resigned); code != 200 || body != "success" {
		t.Fatalf("a re-signed replay: %d %s", code, body)
	}
	if n := e.sim.Stats().Calls["/cgi-bin/service/get_permanent_code"]; n != 1 {
		t.Fatalf("rule: a replayed push does nothing; %d get_permanent_code calls for one install replayed 50 times and re-signed once, want 1", n)
	}

	if err := e.sim.UninstallCorp(ctx, "wwsuite01", "wwtenant01"); err != nil {
		t.Fatal(err)
	}
	cancel := c.last()
	time.Sleep(1100 * time.Millisecond) // the install comes a second later
	if _, err := e.sim.InstallCorp(ctx, "wwsuite01", "wwtenant01"); err != nil {
		t.Fatal(err)
	}
	e.waitToken("/v1/token/suite/tenants/wwtenant01", billingKey)
	if code, body := replay(cancel); code != 200 {
		t.Fatalf("the replayed cancel_auth: %d %s", code, body)
	}
	if code, body := e.do("GET", "/v1/token/suite/tenants/wwtenant01", billingKey, nil); code != 200 {
		t.Fatalf("rule: a replayed cancel_auth removes no tenant that installed again; %d %s", code, body)
	}
}

// A cancel_auth stamped before the corp's latest install (one that got
// past the replay cache, for instance after the store lost it) is ignored.
func TestRemovalPushedBeforeTheInstallIsIgnored(t *testing.T) {
	e := tenantEnv(t)
	ctx := context.Background()
	e.installCorp(ctx, "wwtenant01")
	crypto, _ := callback.New(cbToken, cbAESKey, "wwsuite01")
	stale, _ := callback.Event{InfoType: callback.InfoCancelAuth, SuiteID: "wwsuite01", TimeStamp: time.Now().Add(-time.Minute).Unix(), AuthCorpID: "wwtenant01"}.Marshal()
	body, q, _ := crypto.Seal(stale, time.Now(), "fresh-nonce")
	if code, b := e.do("POST", "/v1/callback/suite?"+q.Encode(), "", bytes.NewReader(body)); code != 200 {
		t.Fatalf("the stale cancel_auth: %d %s", code, b)
	}
	if code, b := e.do("GET", "/v1/token/suite/tenants/wwtenant01", billingKey, nil); code != 200 {
		t.Fatalf("rule: a removal pushed before the install is ignored; %d %s", code, b)
	}
}

// With a callback, suite_tickets arrive signed: the JSON route is closed
// to clients not named in ticket_clients, and a ticket stamped more than
// 30 s ahead is refused. Before, any client key posted garbage stamped
// now+590 s that shut out the genuine push and broke every corp's token.
func TestTicketRouteClosedWhenTheCallbackIsSet(t *testing.T) {
	post := func(e *env, at time.Time) (int, string) {
		b := fmt.Sprintf(`{"suite_ticket":"garbage","timestamp":%d}`, at.Unix())
		code, body := e.do("POST", "/v1/suite_ticket/suite", billingKey, strings.NewReader(b))
		return code, string(body)
	}
	e := tenantEnv(t)
	if code, body := post(e, time.Now()); code != 403 {
		t.Fatalf("rule: with a callback the JSON ticket route is closed; %d %s", code, body)
	}
	e = tenantEnv(t, func(c *server.Config) {
		for i := range c.Apps {
			if c.Apps[i].ID == "suite" {
				c.Apps[i].TicketClients = []string{"billing"}
			}
		}
	})
	if code, body := post(e, time.Now().Add(590*time.Second)); code != 400 {
		t.Fatalf("rule: a ticket stamped 590 s ahead is refused; %d %s", code, body)
	}
	if code, body := post(e, time.Now().Add(10*time.Second)); code != 200 {
		t.Fatalf("a named ticket client, 10 s ahead: %d %s", code, body)
	}
}

// A captured push re-signed with a fresh timestamp is still old inside:
// an event whose own time (in the ciphertext) is outside the window is
// refused with the one answer.
func TestEventOlderThanTheWindowIsRefused(t *testing.T) {
	e := tenantEnv(t)
	crypto, _ := callback.New(cbToken, cbAESKey, "wwsuite01")
	old, _ := callback.Event{InfoType: callback.InfoSuiteTicket, SuiteID: "wwsuite01", TimeStamp: time.Now().Add(-20 * time.Minute).Unix(), SuiteTicket: "old-ticket"}.Marshal()
	body, q, _ := crypto.Seal(old, time.Now(), "n-old")
	if code, b := e.do("POST", "/v1/callback/suite?"+q.Encode(), "", bytes.NewReader(body)); code != 403 || string(b) != refusedBody {
		t.Fatalf("rule: an event older than the window is refused; %d %s", code, b)
	}
	if _, err := e.srv.Cache().Get(context.Background(), "wxtoken:suite_ticket:wwsuite01"); err == nil {
		t.Fatal("the old ticket was stored")
	}
}

// A push sent again while its first delivery is still being handled
// (upstream waits about 5 s, then retries) is answered 503, not
// "success": the first delivery may yet fail, and upstream must keep
// trying. Once the first succeeded, a delivery is a replay.
func TestPushInFlightIsNotAnsweredSuccess(t *testing.T) {
	e := tenantEnv(t)
	ctx := context.Background()
	c := &capture{}
	proxy := c.server(t, e.http.URL+"/v1/callback/suite")
	if err := e.sim.SetSuiteCallback("wwsuite01", wxsim.Callback{URL: proxy.URL, Token: cbToken, EncodingAESKey: cbAESKey}); err != nil {
		t.Fatal(err)
	}
	e.suiteReady(ctx)
	e.sim.InjectFault(wxsim.Fault{Path: "/cgi-bin/service/get_permanent_code", Times: 1, Latency: 1500 * time.Millisecond})
	seen := len(c.snapshot()) // the ticket
	installed := make(chan error, 1)
	go func() {
		_, err := e.sim.InstallCorp(ctx, "wwsuite01", "wwtenant01")
		installed <- err
	}()
	deadline := time.Now().Add(5 * time.Second)
	for len(c.snapshot()) <= seen && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	push := c.last()
	time.Sleep(200 * time.Millisecond) // the first delivery is exchanging its auth_code
	code, body := e.do("POST", "/v1/callback/suite?"+push.query, "", bytes.NewReader(push.body))
	if code != 503 {
		t.Fatalf("rule: a push in flight is not answered success; %d %s", code, body)
	}
	if err := <-installed; err != nil {
		t.Fatalf("the first delivery: %v", err)
	}
	if code, body := e.do("POST", "/v1/callback/suite?"+push.query, "", bytes.NewReader(push.body)); code != 200 || string(body) != "success" {
		t.Fatalf("the push after it was handled: %d %s", code, body)
	}
	if n := e.sim.Stats().Calls["/cgi-bin/service/get_permanent_code"]; n != 1 {
		t.Fatalf("get_permanent_code calls %d, want 1", n)
	}
}
