package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken/client"
	"github.com/wxtoken/wxtoken/core"
	"github.com/wxtoken/wxtoken/server"
	"github.com/wxtoken/wxtoken/wechat"
	"github.com/wxtoken/wxtoken/wxsim"
)

const clientKey = "client-key-for-tests"

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// farm is a wxtoken server over a wxsim whose replaced tokens die at once.
func farm(t *testing.T) (*wxsim.Server, *httptest.Server) {
	sim := wxsim.NewServer(wxsim.WithOverlap(0))
	t.Cleanup(sim.Close)
	sim.AddApp("wxbiz", "biz-secret")
	t.Setenv("BIZ_SECRET", "biz-secret")
	t.Setenv("CLIENT_KEY", clientKey)
	var cfg server.Config
	cfg.Upstream.WeChat = sim.URL
	cfg.Clients = []server.ClientConfig{{Name: "biz", KeyEnv: "CLIENT_KEY"}}
	cfg.Apps = []server.AppConfig{
		{ID: "biz", AppID: "wxbiz", SecretEnv: "BIZ_SECRET"},
		{ID: "broken", AppID: "wxnone", SecretEnv: "BIZ_SECRET"},
	}
	srv, err := server.New(cfg, server.WithLogger(quiet()))
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(func() { hs.Close(); srv.Close() })
	return sim, hs
}

func businessCall(t *testing.T, hc *http.Client, simURL string) int {
	t.Helper()
	resp, err := hc.Get(simURL + wxsim.BusinessPath)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v struct {
		Errcode int `json:"errcode"`
	}
	json.NewDecoder(resp.Body).Decode(&v)
	return v.Errcode
}

// A business server takes tokens from wxtoken serve; when the server's
// token is replaced behind its back, its next call is refused once inside
// the transport, which invalidates (compare-and-refresh on the server: no
// upstream call) and retries: the caller sees success.
func TestRemoteSourceAndTransport(t *testing.T) {
	sim, hs := farm(t)
	m := core.New(core.WithLogger(quiet()))
	defer m.Close()
	if err := m.Register("biz", client.Source(hs.URL, "biz", clientKey)); err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Transport: &wechat.Transport{Tokens: m, Key: "biz", Hosts: []string{strings.TrimPrefix(sim.URL, "http://")}}}
	if code := businessCall(t, hc, sim.URL); code != 0 {
		t.Fatalf("first business call: errcode %d", code)
	}
	// The token is revoked upstream; another business server reports it
	// and the server replaces it.
	old, _ := m.Token(context.Background(), "biz")
	sim.Revoke(old.Value)
	req, _ := http.NewRequest("POST", hs.URL+"/v1/token/biz/invalidate", strings.NewReader(`{"access_token":"`+old.Value+`"}`))
	req.Header.Set("Authorization", "Bearer "+clientKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("invalidate: %v %v", resp, err)
	}
	resp.Body.Close()
	before := sim.Stats()
	if code := businessCall(t, hc, sim.URL); code != 0 {
		t.Fatalf("business call after the token was replaced: errcode %d; the transport should have recovered", code)
	}
	after := sim.Stats()
	if after.CheckErrors[40001] != before.CheckErrors[40001]+1 || after.Calls["/cgi-bin/token"] != before.Calls["/cgi-bin/token"] {
		t.Fatalf("want exactly one refused attempt inside the transport and no upstream token call; stats before %+v after %+v", before, after)
	}
	tok, _ := m.Token(context.Background(), "biz")
	if time.Until(tok.ExpiresAt) > client.DefaultMaxAge {
		t.Fatalf("a token from the server is kept %v, more than MaxAge", time.Until(tok.ExpiresAt))
	}
}

// The same transport over an embedded Manager: a refused token is
// replaced from upstream once.
func TestTransportWithEmbeddedManager(t *testing.T) {
	sim := wxsim.NewServer(wxsim.WithOverlap(0))
	defer sim.Close()
	sim.AddApp("wxemb", "emb-secret")
	m := core.New(core.WithLogger(quiet()))
	defer m.Close()
	m.Register("emb", wechat.OfficialAccount("wxemb", "emb-secret", wechat.WithBaseURL(sim.URL)))
	hc := &http.Client{Transport: &wechat.Transport{Tokens: m, Key: "emb", Hosts: []string{strings.TrimPrefix(sim.URL, "http://")}}}
	if code := businessCall(t, hc, sim.URL); code != 0 {
		t.Fatal(code)
	}
	// A rogue client takes a new token directly, killing the Manager's.
	resp, _ := http.Get(sim.URL + "/cgi-bin/token?grant_type=client_credential&appid=wxemb&secret=emb-secret")
	resp.Body.Close()
	if code := businessCall(t, hc, sim.URL); code != 0 {
		t.Fatalf("after a rogue refresh: errcode %d, want recovery inside the transport", code)
	}
	if n := len(sim.Issues("token:wxemb")); n != 3 {
		t.Fatalf("token fetches %d, want 3 (first, rogue, one refresh)", n)
	}
}

// A POST body is sent again on the retry.
func TestTransportReplaysBody(t *testing.T) {
	var calls atomic.Int32
	var bodies []string
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		bodies = append(bodies, r.URL.Query().Get("access_token")+"|"+string(b))
		w.Header().Set("Content-Type", "application/json")
		if calls.Add(1) == 1 {
			io.WriteString(w, `{"errcode":42001,"errmsg":"access_token expired"}`)
			return
		}
		io.WriteString(w, `{"errcode":0,"errmsg":"ok"}`)
	}))
	defer api.Close()
	n := 0
	src := core.SourceFunc(func(context.Context, core.FetchRequest) (core.Token, error) {
		n++
		return core.Token{Value: "tok" + string(rune('0'+n)), ExpiresAt: time.Now().Add(time.Hour)}, nil
	})
	m := core.New(core.WithLogger(quiet()))
	defer m.Close()
	m.Register("k", src)
	hc := &http.Client{Transport: &wechat.Transport{Tokens: m, Key: "k", Hosts: []string{strings.TrimPrefix(api.URL, "http://")}}}
	resp, err := hc.Post(api.URL+"/cgi-bin/message/custom/send?x=1", "application/json", strings.NewReader(`{"msg":"hi"}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), `"errcode":0`) || len(bodies) != 2 || bodies[0] != `tok1|{"msg":"hi"}` || bodies[1] != `tok2|{"msg":"hi"}` {
		t.Fatalf("answer %s; requests %q; want the body sent twice, with the old then the new token", b, bodies)
	}
}

func TestRemoteSourceErrors(t *testing.T) {
	_, hs := farm(t)
	ctx := context.Background()
	_, err := client.Source(hs.URL, "nope", clientKey).Fetch(ctx, core.FetchRequest{})
	var ce *client.Error
	if !errors.As(err, &ce) || ce.Status != 404 || ce.Transient() {
		t.Fatalf("unknown app: %v, want a permanent *client.Error 404", err)
	}
	_, err = client.Source(hs.URL, "biz", "wrong-key").Fetch(ctx, core.FetchRequest{})
	if !errors.As(err, &ce) || ce.Status != 401 || strings.Contains(err.Error(), "wrong-key") {
		t.Fatalf("wrong key: %v, want 401 without the key", err)
	}
	_, err = client.Source(hs.URL, "broken", clientKey).Fetch(ctx, core.FetchRequest{})
	if wechat.Code(err) != 40013 {
		t.Fatalf("upstream refusal through the server: %v, want *wechat.APIError 40013", err)
	}
}
