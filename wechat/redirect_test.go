package wechat_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken/core"
	"github.com/wxtoken/wxtoken/wechat"
)

// An upstream (or something posing as one) that answers a redirect must
// not get the request, secret included, re-sent to another host: a 307 or
// 308 repeats a POST with its JSON body. The redirect is an error, not
// retried, and the secret appears in no error text.
func TestUpstreamRedirectIsNeverFollowed(t *testing.T) {
	const secret = "s3cr3t-never-redirected"
	var reached atomic.Int32
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		w.Write([]byte(`{"access_token":"stolen","expires_in":7200}`))
	}))
	defer elsewhere.Close()
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, elsewhere.URL+r.URL.RequestURI(), http.StatusTemporaryRedirect)
	}))
	defer redirector.Close()

	for name, src := range map[string]core.Source{
		"token (GET, secret in the query)":        wechat.OfficialAccount("wxapp", secret, wechat.WithBaseURL(redirector.URL)),
		"stable_token (POST, secret in the body)": wechat.StableToken("wxapp", secret, wechat.WithBaseURL(redirector.URL)),
		"a caller's own http.Client": wechat.OfficialAccount("wxapp", secret, wechat.WithBaseURL(redirector.URL),
			wechat.WithHTTPClient(&http.Client{})),
	} {
		_, err := src.Fetch(context.Background(), core.FetchRequest{ID: "t"})
		var he *wechat.HTTPError
		if !errors.As(err, &he) || he.Status != http.StatusTemporaryRedirect {
			t.Errorf("%s: Fetch = %v; want the redirect as an HTTP 307 error", name, err)
		}
		if core.IsTransient(err) {
			t.Errorf("%s: a redirect is reported as transient (it would be retried)", name)
		}
		if err != nil && strings.Contains(err.Error(), secret) {
			t.Errorf("%s: the secret appears in the error", name)
		}
	}
	if n := reached.Load(); n != 0 {
		t.Fatalf("rule: a redirect is never followed; the other host got %d requests", n)
	}
}

// A request that runs out of time says so (TransportError.Timeout), so
// that metrics tell a slow upstream from a refused connection.
func TestTransportErrorTellsATimeout(t *testing.T) {
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}))
	defer slow.Close()
	src := wechat.OfficialAccount("wxapp", "secret", wechat.WithBaseURL(slow.URL),
		wechat.WithHTTPClient(&http.Client{Timeout: 100 * time.Millisecond}))
	_, err := src.Fetch(context.Background(), core.FetchRequest{ID: "t"})
	var te *wechat.TransportError
	if !errors.As(err, &te) || !te.Timeout() {
		t.Fatalf("a timed-out request: %v; want a TransportError that says Timeout", err)
	}
	dead := httptest.NewServer(nil)
	deadURL := dead.URL
	dead.Close()
	_, err = wechat.OfficialAccount("wxapp", "secret", wechat.WithBaseURL(deadURL)).Fetch(context.Background(), core.FetchRequest{ID: "t"})
	if !errors.As(err, &te) || te.Timeout() {
		t.Fatalf("a refused connection: %v; want a TransportError that is no timeout", err)
	}
}

// Transport adds the access token only to requests for its Hosts, and a
// redirect's next hop gets neither the token nor the request: before, a
// 302 delivered access_token to another host.
func TestTransportSendsTheTokenOnlyToUpstream(t *testing.T) {
	var leaked atomic.Int32
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("access_token") != "" {
			leaked.Add(1)
		}
		w.Write([]byte(`{"errcode":0}`))
	}))
	defer elsewhere.Close()
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, elsewhere.URL+"/steal", http.StatusFound)
	}))
	defer upstream.Close()
	m := core.New()
	defer m.Close()
	m.Register("shop", core.SourceFunc(func(context.Context, core.FetchRequest) (core.Token, error) {
		return core.Token{Value: "the-token", ExpiresAt: time.Now().Add(time.Hour)}, nil
	}))
	hc := &http.Client{Transport: &wechat.Transport{Tokens: m, Key: "shop", Hosts: []string{strings.TrimPrefix(upstream.URL, "http://")}}}
	_, err := hc.Get(upstream.URL + "/cgi-bin/message/custom/send")
	if !errors.Is(err, wechat.ErrForeignHost) {
		t.Errorf("a redirect from upstream: %v, want ErrForeignHost", err)
	}
	if _, err := hc.Get(elsewhere.URL + "/cgi-bin/anything"); !errors.Is(err, wechat.ErrForeignHost) {
		t.Errorf("a request for another host: %v, want ErrForeignHost", err)
	}
	if n := leaked.Load(); n != 0 {
		t.Fatalf("rule: the token goes only to upstream; another host got it %d times", n)
	}
	// Without Hosts, only WeChat's and WeCom's hosts get it.
	plain := &http.Client{Transport: &wechat.Transport{Tokens: m, Key: "shop"}}
	if _, err := plain.Get(upstream.URL + "/cgi-bin/x"); !errors.Is(err, wechat.ErrForeignHost) {
		t.Errorf("a local host without Hosts: %v, want ErrForeignHost", err)
	}
}

// Without Hosts the token goes to WeChat's and WeCom's hosts over https
// only, with or without the default port written out. The request is
// refused before anything is sent, so no network is needed here.
func TestTransportDefaultHostsNeedHTTPS(t *testing.T) {
	m := core.New()
	defer m.Close()
	m.Register("shop", core.SourceFunc(func(context.Context, core.FetchRequest) (core.Token, error) {
		return core.Token{Value: "the-token", ExpiresAt: time.Now().Add(time.Hour)}, nil
	}))
	tr := &wechat.Transport{Tokens: m, Key: "shop", Base: roundTripFunc(func(*http.Request) (*http.Response, error) {
		return nil, errors.New("sent") // reached only when the token is allowed
	})}
	for url, allowed := range map[string]bool{
		"https://api.weixin.qq.com/cgi-bin/x":      true,
		"https://api.weixin.qq.com:443/cgi-bin/x":  true,
		"https://qyapi.weixin.qq.com/cgi-bin/x":    true,
		"http://api.weixin.qq.com/cgi-bin/x":       false,
		"https://api.weixin.qq.com:8443/cgi-bin/x": false,
		"https://evil.example/cgi-bin/x":           false,
	} {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		_, err := tr.RoundTrip(req)
		if got := !errors.Is(err, wechat.ErrForeignHost); got != allowed {
			t.Errorf("%s: allowed %v, want %v (%v)", url, got, allowed, err)
		}
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
