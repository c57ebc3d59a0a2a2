package wechat_test

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken/core"
	"github.com/wxtoken/wxtoken/wechat"
	"github.com/wxtoken/wxtoken/wechat/callback"
	"github.com/wxtoken/wxtoken/wxsim"
)

const (
	compAppID  = "wxcomponent000001"
	compSecret = "component-secret"
	compToken  = "comp-callback-token"
	compAESKey = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"
)

// componentCallback is a minimal receiver of the Open Platform's notices:
// tickets go to the shared store, authorization codes to a channel.
func componentCallback(t *testing.T, tickets *wechat.PushedTickets) (*httptest.Server, <-chan callback.Event) {
	t.Helper()
	crypto, err := callback.New(compToken, compAESKey, compAppID)
	if err != nil {
		t.Fatal(err)
	}
	events := make(chan callback.Event, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		e, err := crypto.OpenEvent(r.URL.Query(), body, time.Now())
		if err != nil {
			http.Error(w, err.Error(), http.StatusForbidden)
			return
		}
		if e.InfoType == callback.InfoComponentVerifyTicket {
			if _, err := tickets.Put(r.Context(), e.Ticket, e.At()); err != nil {
				http.Error(w, err.Error(), http.StatusServiceUnavailable)
				return
			}
		} else {
			events <- e
		}
		io.WriteString(w, "success")
	}))
	t.Cleanup(srv.Close)
	return srv, events
}

// componentSetup registers a component as "comp" on a Manager over a
// MemoryCache, with a callback the simulator pushes its tickets to; the
// other notices arrive on events.
func componentSetup(t *testing.T) (*wxsim.Server, *core.MemoryCache, *core.Manager, *wechat.ComponentSource, <-chan callback.Event) {
	t.Helper()
	sim := newSim(t)
	sim.AddComponent(compAppID, compSecret)
	store := core.NewMemoryCache()
	m := newManager(t, core.WithCache(store))
	tickets := wechat.NewComponentTickets(store, "", compAppID)
	cb, events := componentCallback(t, tickets)
	if err := sim.SetComponentCallback(compAppID, wxsim.Callback{URL: cb.URL, Token: compToken, EncodingAESKey: compAESKey}); err != nil {
		t.Fatal(err)
	}
	comp := wechat.ComponentToken(compAppID, compSecret, tickets, wechat.WithBaseURL(sim.URL))
	reg(t, m, "comp", comp)
	return sim, store, m, comp, events
}

func newBox(t *testing.T) *wechat.SecretBox {
	t.Helper()
	box, err := wechat.NewSecretBox([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	return box
}

// The Open Platform chain on the simulator: no ticket yet asks upstream to
// push one; the component token follows it; an authorization code becomes
// an authorizer whose refresh token rotates with every refresh and is
// always the one upstream considers newest, sealed in the store.
func TestOpenPlatformChain(t *testing.T) {
	sim, store, m, comp, events := componentSetup(t)
	base := wechat.WithBaseURL(sim.URL)
	ctx := context.Background()

	// No ticket: the first fetch asks for a push; the push lands and the
	// token follows, without the caller doing anything else.
	tok, err := m.Token(ctx, "comp")
	if err != nil {
		t.Fatalf("component token with the first ticket pushed on request: %v", err)
	}
	if !sim.Valid(tok.Value) {
		t.Fatal("component token not valid")
	}
	if n := sim.Stats().Calls["/cgi-bin/component/api_start_push_ticket"]; n != 1 {
		t.Fatalf("api_start_push_ticket called %d times, want 1", n)
	}

	// An authorization: the notice carries a code, exchanged once.
	if _, err := sim.AuthorizeApp(ctx, compAppID, "wxauthorizer0001"); err != nil {
		t.Fatal(err)
	}
	e := <-events
	if e.InfoType != callback.InfoAuthorized || e.AuthorizerAppID != "wxauthorizer0001" {
		t.Fatalf("notice %+v", e)
	}
	auth, err := comp.QueryAuth(ctx, m, "comp", e.AuthorizationCode)
	if err != nil || auth.AuthorizerAppID != "wxauthorizer0001" || !sim.Valid(auth.AccessToken.Value) {
		t.Fatalf("QueryAuth: %+v, %v", auth, err)
	}
	if _, err := comp.QueryAuth(ctx, m, "comp", e.AuthorizationCode); wechat.Code(err) != 61009 {
		t.Fatalf("a code exchanged twice: %v, want 61009", err)
	}
	box := newBox(t)
	reg(t, m, "shop", wechat.AuthorizerToken("comp", compAppID, "wxauthorizer0001", box, base))
	key, err := m.StateKey("shop", wechat.RefreshTokenState)
	if err != nil {
		t.Fatal(err)
	}
	if err := wechat.SaveRefreshToken(ctx, store, box, key, auth.RefreshToken); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		tok, err := m.Refresh(ctx, "shop")
		if err != nil || !sim.Valid(tok.Value) {
			t.Fatalf("authorizer refresh %d: %v", i, err)
		}
		rt, err := wechat.LoadRefreshToken(ctx, store, box, key)
		if err != nil || rt.Token != sim.AuthorizerRefreshToken(compAppID, "wxauthorizer0001") {
			t.Fatalf("after refresh %d the store holds another refresh token than upstream's newest (%v)", i, err)
		}
		if rt.Token == auth.RefreshToken {
			t.Fatal("the refresh token did not rotate")
		}
	}
	if n := sim.Stats().Calls["/cgi-bin/component/api_authorizer_token"]; n != 3 {
		t.Fatalf("api_authorizer_token called %d times for 3 refreshes", n)
	}
}

// Without a push, a component asks for one at most once per interval,
// fleet-wide, and says so in a typed error.
func TestComponentAsksForAPushOncePerInterval(t *testing.T) {
	sim := newSim(t)
	sim.AddComponent(compAppID, compSecret)
	store := core.NewMemoryCache()
	tickets := wechat.NewComponentTickets(store, "", compAppID)
	src := wechat.ComponentToken(compAppID, compSecret, tickets, wechat.WithBaseURL(sim.URL)) // no callback: nothing arrives
	requested := 0
	for range 3 {
		_, err := src.Fetch(context.Background(), core.FetchRequest{ID: "component:" + compAppID, State: store, StatePrefix: "wxtoken:state:{component:" + compAppID + "}:"})
		var te *wechat.TicketMissingError
		if !errors.As(err, &te) || !errors.Is(err, wechat.ErrNoComponentTicket) || !core.IsTransient(err) {
			t.Fatalf("fetch without a ticket: %v, want a transient TicketMissingError", err)
		}
		if te.PushRequested {
			requested++
		}
	}
	if requested != 1 || sim.Stats().Calls["/cgi-bin/component/api_start_push_ticket"] != 1 {
		t.Fatalf("push requested %d times (upstream saw %d), want once per interval", requested, sim.Stats().Calls["/cgi-bin/component/api_start_push_ticket"])
	}
}

// An authorizer's refresh token is never rotated without the fleet lock:
// it could not be saved.
func TestAuthorizerRefusesToRotateWithoutTheLock(t *testing.T) {
	src := wechat.AuthorizerToken("comp", compAppID, "wxauthorizer0001", newBox(t))
	_, err := src.Fetch(context.Background(), core.FetchRequest{ID: "authorizer:x", State: core.NewMemoryCache()})
	if !errors.Is(err, wechat.ErrNeedsFleetLock) {
		t.Fatalf("fetch without SetState: %v, want ErrNeedsFleetLock", err)
	}
}

func TestSecretBox(t *testing.T) {
	box := newBox(t)
	sealed := box.Seal("wxtoken:state:{a}:refresh_token", []byte("refreshtoken@@@secret"))
	if got, err := box.Open("wxtoken:state:{a}:refresh_token", sealed); err != nil || string(got) != "refreshtoken@@@secret" {
		t.Fatalf("round trip: %q, %v", got, err)
	}
	other, _ := wechat.NewSecretBox([]byte("fedcba9876543210fedcba9876543210"))
	for name, open := range map[string]func() ([]byte, error){
		"another name":   func() ([]byte, error) { return box.Open("wxtoken:state:{b}:refresh_token", sealed) },
		"another key":    func() ([]byte, error) { return other.Open("wxtoken:state:{a}:refresh_token", sealed) },
		"tampered":       func() ([]byte, error) { return box.Open("wxtoken:state:{a}:refresh_token", tamper(sealed)) },
		"not sealed":     func() ([]byte, error) { return box.Open("k", "refreshtoken@@@secret") },
		"garbled base64": func() ([]byte, error) { return box.Open("k", "s1:!!!") },
	} {
		if got, err := open(); !errors.Is(err, wechat.ErrSealed) || got != nil {
			t.Errorf("%s: %q, %v; want ErrSealed", name, got, err)
		}
	}
	if _, err := wechat.NewSecretBox([]byte("short")); err == nil {
		t.Error("a short key was accepted")
	}
}

// tamper flips one bit of a sealed value's ciphertext (changing its last
// characters instead may only touch base64's unused trailing bits).
func tamper(sealed string) string {
	i := strings.LastIndex(sealed, ":") + 1
	raw, err := base64.RawStdEncoding.DecodeString(sealed[i:])
	if err != nil {
		panic(err)
	}
	raw[len(raw)/2] ^= 1
	return sealed[:i] + base64.RawStdEncoding.EncodeToString(raw)
}

// A report of a live component token is checked, not trusted: the Open
// Platform has no probe, so api_get_authorizer_list (read-only) answers
// whether the token works. Before, 20 reports of a good token were 20
// api_component_token fetches.
func TestComponentTokenReportsAreVerified(t *testing.T) {
	sim, _, m, comp, _ := componentSetup(t)
	ctx := context.Background()
	tok, err := m.Token(ctx, "comp")
	if err != nil {
		t.Fatal(err)
	}
	if alive, err := comp.Verify(ctx, tok.Value); !alive || err != nil {
		t.Fatalf("Verify of the live token = %v, %v", alive, err)
	}
	fetches := sim.Stats().Calls["/cgi-bin/component/api_component_token"]
	for range 20 {
		got, err := m.Invalidate(ctx, "comp", tok.Value)
		if err != nil || got.Value != tok.Value {
			t.Fatalf("a report of a live token: %v (replaced %v)", err, got.Value != tok.Value)
		}
	}
	if n := sim.Stats().Calls["/cgi-bin/component/api_component_token"]; n != fetches {
		t.Fatalf("rule: a report of a live component token fetches nothing; %d fetches for 20 reports", n-fetches)
	}
	sim.Revoke(tok.Value)
	time.Sleep(1200 * time.Millisecond) // past the confirmation's window (the verify interval, 1 s)
	if alive, err := comp.Verify(ctx, tok.Value); alive || err != nil {
		t.Fatalf("Verify of a revoked token = %v, %v; want false, nil", alive, err)
	}
	if got, err := m.Invalidate(ctx, "comp", tok.Value); err != nil || got.Value == tok.Value {
		t.Fatalf("a report of a dead token: %v (replaced %v)", err, got.Value != tok.Value)
	}
}
