package wxsim_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken/wxsim"
)

type answer struct {
	Errcode     int    `json:"errcode"`
	Errmsg      string `json:"errmsg"`
	AccessToken string `json:"access_token"`
	Ticket      string `json:"ticket"`
	ExpiresIn   int    `json:"expires_in"`
}

func get(t *testing.T, url string) answer {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var a answer
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
		t.Fatal(err)
	}
	return a
}

func post(t *testing.T, url string, body any) answer {
	t.Helper()
	b, _ := json.Marshal(body)
	resp, err := http.Post(url, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var a answer
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
		t.Fatal(err)
	}
	return a
}

func newServer(t *testing.T, opts ...wxsim.Option) *wxsim.Server {
	s := wxsim.NewServer(opts...)
	t.Cleanup(s.Close)
	s.AddApp("wx1", "sec")
	return s
}

func tokenURL(s *wxsim.Server, appid, secret string) string {
	return s.URL + "/cgi-bin/token?grant_type=client_credential&appid=" + appid + "&secret=" + secret
}

func check(t *testing.T, s *wxsim.Server, tok string) int {
	return get(t, s.URL+wxsim.BusinessPath+"?access_token="+tok).Errcode
}

func TestTokenRetiresPreviousAfterOverlap(t *testing.T) {
	s := newServer(t, wxsim.WithOverlap(300*time.Millisecond))
	a := get(t, tokenURL(s, "wx1", "sec"))
	if a.AccessToken == "" || a.ExpiresIn != 7200 || a.Errcode != 0 {
		t.Fatalf("first token answer %+v", a)
	}
	if len(a.AccessToken) < 100 {
		t.Fatalf("token %d characters long; real ones are over 100", len(a.AccessToken))
	}
	b := get(t, tokenURL(s, "wx1", "sec"))
	if b.AccessToken == a.AccessToken {
		t.Fatal("a second call returned the same token")
	}
	if check(t, s, a.AccessToken) != 0 || check(t, s, b.AccessToken) != 0 {
		t.Fatal("both tokens must work during the overlap")
	}
	time.Sleep(350 * time.Millisecond)
	if code := check(t, s, a.AccessToken); code != 40001 {
		t.Fatalf("the replaced token after the overlap answers %d, want 40001", code)
	}
	if check(t, s, b.AccessToken) != 0 {
		t.Fatal("the newest token stopped working")
	}
}

func TestExpiredTokenAnswers42001(t *testing.T) {
	s := newServer(t, wxsim.WithLifetime(time.Second))
	a := get(t, tokenURL(s, "wx1", "sec"))
	if a.ExpiresIn != 1 {
		t.Fatalf("expires_in %d, want 1", a.ExpiresIn)
	}
	time.Sleep(1100 * time.Millisecond)
	if code := check(t, s, a.AccessToken); code != 42001 {
		t.Fatalf("expired token answers %d, want 42001", code)
	}
	if code := check(t, s, "garbage"); code != 40001 {
		t.Fatalf("unknown token answers %d, want 40001", code)
	}
	if code := check(t, s, ""); code != 41001 {
		t.Fatalf("missing token answers %d, want 41001", code)
	}
	st := s.Stats()
	if st.Checks != 3 || st.CheckErrors[42001] != 1 || st.CheckErrors[40001] != 1 || st.FailedChecks() != 3 {
		t.Fatalf("check stats %+v", st)
	}
}

func TestTokenErrcodes(t *testing.T) {
	s := newServer(t, wxsim.WithDailyLimit(2))
	cases := map[string]int{
		s.URL + "/cgi-bin/token?grant_type=x&appid=wx1&secret=sec":       40002,
		s.URL + "/cgi-bin/token?grant_type=client_credential&secret=sec": 41002,
		s.URL + "/cgi-bin/token?grant_type=client_credential&appid=wx1":  41004,
		tokenURL(s, "nope", "sec"):                                       40013,
		tokenURL(s, "wx1", "bad"):                                        40125,
	}
	for u, want := range cases {
		a := get(t, u)
		if a.Errcode != want || !strings.Contains(a.Errmsg, " rid: ") || a.AccessToken != "" {
			t.Errorf("%s: %+v, want errcode %d with a rid", u, a, want)
		}
	}
	get(t, tokenURL(s, "wx1", "sec"))
	get(t, tokenURL(s, "wx1", "sec"))
	if a := get(t, tokenURL(s, "wx1", "sec")); a.Errcode != 45009 {
		t.Fatalf("third call over a daily limit of 2 = %+v, want 45009", a)
	}
	if n := s.Stats().Calls["/cgi-bin/token"]; n != 8 {
		t.Fatalf("calls counted %d, want 8", n)
	}
}

func TestStableTokenNormalAndForce(t *testing.T) {
	s := newServer(t, wxsim.WithLifetime(4*time.Second), wxsim.WithStableRenewBefore(time.Second),
		wxsim.WithForceRefreshLimits(2, 200*time.Millisecond))
	u := s.URL + "/cgi-bin/stable_token"
	body := map[string]any{"grant_type": "client_credential", "appid": "wx1", "secret": "sec"}
	a := post(t, u, body)
	if b := post(t, u, body); b.AccessToken != a.AccessToken {
		t.Fatal("normal mode returned a new token while the live one is valid")
	}
	if resp, _ := http.Get(u); resp != nil {
		var x answer
		json.NewDecoder(resp.Body).Decode(&x)
		resp.Body.Close()
		if x.Errcode == 0 {
			t.Fatal("GET on stable_token was accepted; upstream takes POST JSON only")
		}
	}
	time.Sleep(3100 * time.Millisecond) // within renewBefore of expiry
	c := post(t, u, body)
	if c.AccessToken == a.AccessToken || c.ExpiresIn < 3 {
		t.Fatalf("normal mode near expiry: %+v; want a renewed token", c)
	}
	if check(t, s, a.AccessToken) != 0 {
		t.Fatal("the previous stable token must keep working until its own expiry")
	}
	body["force_refresh"] = true
	d := post(t, u, body)
	if d.AccessToken == c.AccessToken || check(t, s, c.AccessToken) != 40001 {
		t.Fatal("force_refresh must issue a new token and retire the live one at once")
	}
	if e := post(t, u, body); e.AccessToken != d.AccessToken {
		t.Fatal("a force_refresh sooner than the interval must be answered in normal mode")
	}
	time.Sleep(250 * time.Millisecond)
	post(t, u, body)
	time.Sleep(250 * time.Millisecond)
	if f := post(t, u, body); f.Errcode != 45009 {
		t.Fatalf("force_refresh over the daily quota = %+v, want 45009", f)
	}
}

func TestWeComSameTokenWhileValid(t *testing.T) {
	s := newServer(t)
	s.AddWeComApp("ww1", "1000002", "app-secret")
	u := s.URL + "/cgi-bin/gettoken?corpid=ww1&corpsecret=app-secret"
	a, b := get(t, u), get(t, u)
	if a.Errcode != 0 || a.Errmsg != "ok" || a.AccessToken == "" || a.AccessToken != b.AccessToken {
		t.Fatalf("gettoken twice: %+v / %+v; want the same token with errcode 0", a, b)
	}
	if x := get(t, s.URL+"/cgi-bin/gettoken?corpid=ww1&corpsecret=wrong"); x.Errcode != 40001 {
		t.Fatalf("wrong corpsecret = %+v, want 40001", x)
	}
	if x := get(t, s.URL+"/cgi-bin/gettoken?corpid=ww9&corpsecret=x"); x.Errcode != 40013 {
		t.Fatalf("unknown corpid = %+v, want 40013", x)
	}
	n := wxsim.NewServer(wxsim.WithWeComNewTokenPerCall())
	defer n.Close()
	n.AddWeComApp("ww1", "1000002", "app-secret")
	u = n.URL + "/cgi-bin/gettoken?corpid=ww1&corpsecret=app-secret"
	if c, d := get(t, u), get(t, u); c.AccessToken == d.AccessToken {
		t.Fatal("WithWeComNewTokenPerCall still returned the same token")
	}
}

func TestJSAPITicket(t *testing.T) {
	s := newServer(t)
	tok := get(t, tokenURL(s, "wx1", "sec")).AccessToken
	a := get(t, s.URL+"/cgi-bin/ticket/getticket?type=jsapi&access_token="+tok)
	if a.Errcode != 0 || a.Ticket == "" || a.ExpiresIn != 7200 || s.Current("jsapi@token:wx1") != a.Ticket {
		t.Fatalf("getticket: %+v", a)
	}
	if b := get(t, s.URL+"/cgi-bin/ticket/getticket?type=jsapi&access_token=bad"); b.Errcode != 40001 {
		t.Fatalf("getticket with a bad token: %+v, want 40001", b)
	}
}

func TestFaults(t *testing.T) {
	s := newServer(t)
	s.InjectFault(wxsim.Fault{Path: "/cgi-bin/token", Times: 1, Errcode: -1})
	if a := get(t, tokenURL(s, "wx1", "sec")); a.Errcode != -1 {
		t.Fatalf("errcode fault: %+v", a)
	}
	if a := get(t, tokenURL(s, "wx1", "sec")); a.AccessToken == "" {
		t.Fatal("a fault with Times 1 applied twice")
	}
	s.InjectFault(wxsim.Fault{Times: 1, HTTPStatus: 503})
	resp, err := http.Get(tokenURL(s, "wx1", "sec"))
	if err != nil || resp.StatusCode != 503 {
		t.Fatalf("HTTP fault: %v %v", resp, err)
	}
	resp.Body.Close()
	s.InjectFault(wxsim.Fault{Times: 1, Drop: true})
	if _, err := http.Get(tokenURL(s, "wx1", "sec")); err == nil {
		t.Fatal("a dropped connection answered")
	}
	s.InjectFault(wxsim.Fault{Latency: 200 * time.Millisecond})
	start := time.Now()
	get(t, tokenURL(s, "wx1", "sec"))
	if time.Since(start) < 200*time.Millisecond {
		t.Fatal("latency fault not applied")
	}
	s.ClearFaults()
	start = time.Now()
	get(t, tokenURL(s, "wx1", "sec"))
	if time.Since(start) > 150*time.Millisecond {
		t.Fatal("ClearFaults left a fault")
	}
	if n := len(s.Issues("token:wx1")); n != 3 {
		t.Fatalf("issues %d, want 3 (faulted calls issue nothing)", n)
	}
}

// Hosts sends WeChat's and WeCom's hosts to the simulator and leaves
// others alone.
func TestHostsSendsUpstreamHostsToTheSimulator(t *testing.T) {
	sim := wxsim.NewServer()
	defer sim.Close()
	sim.AddApp("wxhosts", "s")
	rt, err := wxsim.Hosts(sim.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Transport: rt}
	resp, err := hc.Get("https://api.weixin.qq.com/cgi-bin/token?grant_type=client_credential&appid=wxhosts&secret=s")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if n := sim.Stats().Calls["/cgi-bin/token"]; n != 1 || resp.StatusCode != 200 {
		t.Fatalf("a request for api.weixin.qq.com: status %d, the simulator saw %d token calls", resp.StatusCode, n)
	}
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(204) }))
	defer other.Close()
	resp, err = hc.Get(other.URL)
	if err != nil || resp.StatusCode != 204 {
		t.Fatalf("another host was not left alone: %v", err)
	}
	resp.Body.Close()
	for _, bad := range []string{"::", "127.0.0.1:8081"} {
		if _, err := wxsim.Hosts(bad, nil); err == nil {
			t.Fatalf("base URL %q was accepted", bad)
		}
	}
}

// A fleet that runs the simulator as its own process revokes tokens and
// reads the counters through its admin routes.
func TestAdminRoutes(t *testing.T) {
	srv := newServer(t)
	tok := get(t, tokenURL(srv, "wx1", "sec")).AccessToken
	postForm := func(path string, form url.Values) int {
		t.Helper()
		resp, err := http.PostForm(srv.URL+path, form)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	stats := func() map[string]any {
		t.Helper()
		resp, err := http.Get(srv.URL + wxsim.AdminStatsPath)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var v map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	if v := stats(); v["token_calls"] != 1.0 || v["calls"].(map[string]any)["/cgi-bin/token"] != 1.0 {
		t.Fatalf("stats after one token call: %v", v)
	}
	if !srv.Valid(tok) {
		t.Fatal("the token is not valid")
	}
	if code := postForm(wxsim.AdminRevokePath, url.Values{"access_token": {tok}}); code != 200 {
		t.Fatalf("revoke: %d", code)
	}
	if srv.Valid(tok) {
		t.Fatal("the token is still valid after revoke")
	}
	if code := postForm(wxsim.AdminRevokePath, url.Values{"access_token": {"never-issued"}}); code != 404 {
		t.Fatalf("revoking a token never issued: %d, want 404", code)
	}
	if code := postForm(wxsim.AdminResetPath, nil); code != 200 {
		t.Fatalf("reset: %d", code)
	}
	if v := stats(); v["token_calls"] != 0.0 {
		t.Fatalf("stats after reset: %v", v)
	}
}
