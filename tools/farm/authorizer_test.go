package farm_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken/core"
	"github.com/wxtoken/wxtoken/internal/localserver"
	"github.com/wxtoken/wxtoken/lock"
	"github.com/wxtoken/wxtoken/server"
	"github.com/wxtoken/wxtoken/tools/farm"
	"github.com/wxtoken/wxtoken/wechat"
	"github.com/wxtoken/wxtoken/wxsim"
)

// errDead is what a killed node's store calls get: the process is gone.
var errDead = errors.New("node killed")

// mortalStore is one node's client of the shared store; after the node is
// killed it does nothing more, as a dead process would (its lease is never
// released: it runs out).
type mortalStore struct {
	core.Cache
	dead *atomic.Bool
}

func (m mortalStore) Get(ctx context.Context, k string) (string, error) {
	if m.dead.Load() {
		return "", errDead
	}
	return m.Cache.Get(ctx, k)
}

func (m mortalStore) Set(ctx context.Context, k, v string, ttl time.Duration) error {
	if m.dead.Load() {
		return errDead
	}
	return m.Cache.Set(ctx, k, v, ttl)
}

func (m mortalStore) TryLock(ctx context.Context, name string, ttl time.Duration) (lock.Lease, error) {
	if m.dead.Load() {
		return nil, errDead
	}
	l, err := m.Cache.(lock.Locker).TryLock(ctx, name, ttl)
	if err != nil {
		return nil, err
	}
	return mortalLease{l.(core.FencedLease), m.dead}, nil
}

type mortalLease struct {
	core.FencedLease
	dead *atomic.Bool
}

func (l mortalLease) Extend(ctx context.Context, ttl time.Duration) error {
	if l.dead.Load() {
		return errDead
	}
	return l.FencedLease.Extend(ctx, ttl)
}

func (l mortalLease) Unlock(ctx context.Context) error {
	if l.dead.Load() {
		return errDead
	}
	return l.FencedLease.Unlock(ctx)
}

func (l mortalLease) SetIfHeld(ctx context.Context, k, v string, ttl time.Duration) error {
	if l.dead.Load() {
		return errDead
	}
	return l.FencedLease.SetIfHeld(ctx, k, v, ttl)
}

// killAfterRotation lets a node's api_authorizer_token call reach upstream
// (which rotates the refresh token) and, when armed, kills the node before
// it sees the answer: the new refresh token exists only upstream.
type killAfterRotation struct {
	dead   *atomic.Bool
	armed  *atomic.Bool
	killed chan<- time.Time
}

func (k killAfterRotation) RoundTrip(r *http.Request) (*http.Response, error) {
	if k.dead.Load() {
		return nil, errDead
	}
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err == nil && strings.HasSuffix(r.URL.Path, "/api_authorizer_token") && k.armed.CompareAndSwap(true, false) {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		k.dead.Store(true)
		k.killed <- time.Now()
		return nil, errDead
	}
	return resp, err
}

// Four nodes on one Redis keep an Open Platform authorizer's token through
// four lifetimes. Every refresh rotates the authorizer_refresh_token once
// (one upstream call, one new refresh token); the node holding the lock is
// killed right after upstream rotated it, before it could save the new
// one: the next holder refreshes with the old one (upstream honours it a
// while longer), and the store ends with upstream's newest. No business
// call fails.
func TestFarmAuthorizerRefreshTokenSurvivesAKilledRotation(t *testing.T) {
	if testing.Short() {
		t.Skip("farm test skipped in -short mode")
	}
	const (
		life      = 3 * time.Second
		comp      = "wxfarmcomponent1"
		authz     = "wxfarmauthorizer"
		nodeCount = 4
	)
	redisSrv := localserver.T(t, localserver.Redis)
	sim := wxsim.NewServer(wxsim.WithLifetime(life), wxsim.WithOverlap(30*time.Second))
	defer sim.Close()
	sim.AddComponent(comp, "comp-secret")
	cb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "success") }))
	defer cb.Close()
	if err := sim.SetComponentCallback(comp, wxsim.Callback{URL: cb.URL, Token: "t", EncodingAESKey: "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"}); err != nil {
		t.Fatal(err)
	}
	box, _ := wechat.NewSecretBox([]byte("0123456789abcdef0123456789abcdef"))
	ctx := context.Background()

	armed := &atomic.Bool{}
	killed := make(chan time.Time, 1)
	var managers []*core.Manager
	var deads []*atomic.Bool
	var comp0 *wechat.ComponentSource
	settings := farm.Scaled(life)
	for i := range nodeCount {
		store, closer, err := server.OpenCache("redis://" + redisSrv.Addr + "/0")
		if err != nil {
			t.Fatal(err)
		}
		defer closer.Close()
		dead := &atomic.Bool{}
		hc := &http.Client{Timeout: 2 * time.Second, Transport: killAfterRotation{dead: dead, armed: armed, killed: killed}}
		opts := []wechat.Option{wechat.WithBaseURL(sim.URL), wechat.WithHTTPClient(hc)}
		m := core.New(core.WithCache(mortalStore{store, dead}), core.WithSettings(settings), core.WithLogger(slog.New(slog.DiscardHandler)))
		defer m.Close()
		tickets := wechat.NewComponentTickets(mortalStore{store, dead}, "", comp)
		if i == 0 {
			if _, err := tickets.Put(ctx, sim.IssueComponentTicket(comp), time.Now()); err != nil {
				t.Fatal(err)
			}
		}
		src := wechat.ComponentToken(comp, "comp-secret", tickets, opts...)
		if i == 0 {
			comp0 = src
		}
		if err := m.Register("comp", src); err != nil {
			t.Fatal(err)
		}
		if err := m.Register("shop", wechat.AuthorizerToken("comp", comp, authz, box, opts...)); err != nil {
			t.Fatal(err)
		}
		managers = append(managers, m)
		deads = append(deads, dead)
	}
	// The authorization: its refresh token saved where every node reads it.
	code, err := sim.AuthorizeApp(ctx, comp, authz)
	if err != nil {
		t.Fatal(err)
	}
	auth, err := comp0.QueryAuth(ctx, managers[0], "comp", code)
	if err != nil {
		t.Fatal(err)
	}
	stateKey, _ := managers[0].StateKey("shop", wechat.RefreshTokenState)
	store0, closer0, _ := server.OpenCache("redis://" + redisSrv.Addr + "/0")
	defer closer0.Close()
	if err := wechat.SaveRefreshToken(ctx, store0, box, stateKey, auth.RefreshToken); err != nil {
		t.Fatal(err)
	}
	authzID := "authorizer:" + authz + "@component:" + comp
	issuedBefore := len(sim.Issues(authzID)) // the one api_query_auth issued

	// Business traffic on every node; a killed node's workers stop.
	runCtx, cancel := context.WithTimeout(ctx, 4*life)
	defer cancel()
	var calls, failed atomic.Int64
	var firstFailure atomic.Value
	var wg sync.WaitGroup
	for i, m := range managers {
		for range 2 {
			wg.Go(func() {
				for runCtx.Err() == nil && !deads[i].Load() {
					if err := businessCall(runCtx, sim, m); err != nil && runCtx.Err() == nil && !deads[i].Load() {
						failed.Add(1)
						firstFailure.CompareAndSwap(nil, err.Error())
					}
					calls.Add(1)
					time.Sleep(10 * time.Millisecond)
				}
			})
		}
	}
	time.Sleep(life + life/2)
	armed.Store(true)
	var killedAt time.Time
	select {
	case killedAt = <-killed:
	case <-time.After(2 * life):
		t.Fatal("no node rotated the refresh token after the kill was armed")
	}
	wg.Wait()

	issues := sim.Issues(authzID)[issuedBefore:]
	rotations := sim.Stats().Calls["/cgi-bin/component/api_authorizer_token"]
	after := 0
	for _, at := range issues {
		if at.After(killedAt) {
			after++
		}
	}
	t.Logf("business calls %d, failed %d; api_authorizer_token calls %d, tokens issued %d (%d after the kill)", calls.Load(), failed.Load(), rotations, len(issues), after)
	if failed.Load() != 0 {
		t.Fatalf("rule: no business call fails; %d did, the first: %v", failed.Load(), firstFailure.Load())
	}
	if rotations != len(issues) {
		t.Fatalf("rule: one rotation per refresh: %d calls, %d tokens issued", rotations, len(issues))
	}
	// Ideal: one refresh per cycle (a lifetime less the refresh-ahead),
	// one more for rounding, and the one whose answer died with its node.
	cycle := life - settings.RefreshAhead
	ideal := int((4*life + cycle - 1) / cycle)
	if len(issues) > ideal+2 || after == 0 {
		t.Fatalf("refreshes: %d in four lifetimes, ideal %d plus the killed one (%d after the kill)", len(issues), ideal, after)
	}
	rt, err := wechat.LoadRefreshToken(ctx, store0, box, stateKey)
	if err != nil || rt.Token != sim.AuthorizerRefreshToken(comp, authz) {
		t.Fatalf("rule: the refresh token is never lost: the store holds another than upstream's newest (%v)", err)
	}
	for i, m := range managers {
		if deads[i].Load() {
			continue
		}
		if _, err := m.Refresh(ctx, "shop"); err != nil {
			t.Fatalf("a refresh with the stored refresh token after the run: %v", err)
		}
		break
	}
}

// businessCall takes the authorizer's token, spends it on the simulator's
// business API and, refused, reports it and tries once more.
func businessCall(ctx context.Context, sim *wxsim.Server, m *core.Manager) error {
	tok, err := m.Token(ctx, "shop")
	if err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		code, err := check(ctx, sim, tok.Value)
		if err != nil || code == 0 {
			return err
		}
		if attempt == 1 {
			return errors.New("refused twice")
		}
		if tok, err = m.Invalidate(ctx, "shop", tok.Value); err != nil {
			return err
		}
	}
}

func check(ctx context.Context, sim *wxsim.Server, token string) (int, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, sim.URL+wxsim.BusinessPath+"?access_token="+token, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var v struct {
		Errcode int `json:"errcode"`
	}
	return v.Errcode, json.NewDecoder(resp.Body).Decode(&v)
}
