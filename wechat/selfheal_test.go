package wechat_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken/core"
	"github.com/wxtoken/wxtoken/wechat"
	"github.com/wxtoken/wxtoken/wxsim"
)

// authorizerSetup authorizes one account on a component and registers its
// token as "shop" on a Manager over store, its refresh token saved.
func authorizerSetup(t *testing.T) (*wxsim.Server, *core.MemoryCache, *core.Manager, *wechat.AuthorizerSource, string) {
	t.Helper()
	sim, store, m, comp, events := componentSetup(t)
	base := wechat.WithBaseURL(sim.URL)
	ctx := context.Background()
	if _, err := m.Token(ctx, "comp"); err != nil {
		t.Fatal(err)
	}
	if _, err := sim.AuthorizeApp(ctx, compAppID, "wxauthorizer0001"); err != nil {
		t.Fatal(err)
	}
	auth, err := comp.QueryAuth(ctx, m, "comp", (<-events).AuthorizationCode)
	if err != nil {
		t.Fatal(err)
	}
	shop := wechat.AuthorizerToken("comp", compAppID, "wxauthorizer0001", newBox(t), base)
	key, err := m.SourceStateKey(shop, wechat.RefreshTokenState)
	if err != nil {
		t.Fatal(err)
	}
	if err := shop.SaveRefreshToken(ctx, store, key, auth.RefreshToken); err != nil {
		t.Fatal(err)
	}
	reg(t, m, "shop", shop)
	return sim, store, m, shop, key
}

func storedRefresh(t *testing.T, store core.Cache, key string) string {
	t.Helper()
	rt, err := wechat.LoadRefreshToken(context.Background(), store, newBox(t), key)
	if err != nil {
		t.Fatal(err)
	}
	return rt.Token
}

// The store loses an authorizer's refresh token: the node that holds the
// newest link of the chain refreshes with it and writes it back, and
// Republish writes it back on demand, also over an older link (a
// failover that lost the last rotation).
func TestRefreshTokenSurvivesStoreLoss(t *testing.T) {
	sim, store, m, shop, key := authorizerSetup(t)
	ctx := context.Background()
	if !shop.HoldsRefreshToken() {
		t.Fatal("the Source that saved the refresh token does not hold it")
	}
	store.Remove(ctx, key)
	tok, err := m.Refresh(ctx, "shop")
	if err != nil || !sim.Valid(tok.Value) {
		t.Fatalf("a refresh after the store lost the refresh token: %v", err)
	}
	if got := storedRefresh(t, store, key); got != sim.AuthorizerRefreshToken(compAppID, "wxauthorizer0001") {
		t.Fatal("the store does not hold upstream's newest refresh token after the refresh")
	}

	older, _ := store.Get(ctx, key)
	if _, err := m.Refresh(ctx, "shop"); err != nil {
		t.Fatal(err)
	}
	store.Set(ctx, key, older, 0) // the last rotation lost
	republish := func() bool {
		t.Helper()
		var done bool
		err := m.UpdateState(ctx, "shop", func(ctx context.Context, req core.FetchRequest) (err error) {
			done, err = shop.Republish(ctx, req)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return done
	}
	if !republish() {
		t.Fatal("Republish did not replace an older link of the chain")
	}
	if got := storedRefresh(t, store, key); got != sim.AuthorizerRefreshToken(compAppID, "wxauthorizer0001") {
		t.Fatal("after Republish the store does not hold upstream's newest refresh token")
	}
	if republish() {
		t.Fatal("Republish wrote over the same link")
	}
	if _, err := m.Refresh(ctx, "shop"); err != nil {
		t.Fatalf("a refresh with the re-published refresh token: %v", err)
	}

	// A node that never held the chain has nothing to offer: the loss is
	// reported, not hidden.
	other := newManager(t, core.WithCache(store))
	reg(t, other, "comp", wechat.ComponentToken(compAppID, compSecret, wechat.NewComponentTickets(store, "", compAppID), wechat.WithBaseURL(sim.URL)))
	reg(t, other, "shop", wechat.AuthorizerToken("comp", compAppID, "wxauthorizer0001", newBox(t), wechat.WithBaseURL(sim.URL)))
	store.Remove(ctx, key)
	if _, err := other.Refresh(ctx, "shop"); !errors.Is(err, wechat.ErrNoRefreshToken) {
		t.Fatalf("a refresh on a node that holds nothing: %v, want ErrNoRefreshToken", err)
	}
}

// A refresh token stored before the chain had sequence numbers (a bare
// sealed value) still reads.
func TestRefreshTokenBareSealedValueReads(t *testing.T) {
	sim, store, _, _, key := authorizerSetup(t)
	ctx := context.Background()
	rt := storedRefresh(t, store, key)
	store.Set(ctx, key, newBox(t).Seal(key, []byte(rt)), 0)
	other := newManager(t, core.WithCache(store))
	reg(t, other, "comp", wechat.ComponentToken(compAppID, compSecret, wechat.NewComponentTickets(store, "", compAppID), wechat.WithBaseURL(sim.URL)))
	reg(t, other, "shop", wechat.AuthorizerToken("comp", compAppID, "wxauthorizer0001", newBox(t), wechat.WithBaseURL(sim.URL)))
	if _, err := other.Refresh(ctx, "shop"); err != nil {
		t.Fatalf("a refresh from a bare sealed refresh token: %v", err)
	}
}

// The store loses a pushed ticket: the node that received it serves it
// and writes it back; a node holding an older one does not replace a
// newer one.
func TestPushedTicketSurvivesStoreLoss(t *testing.T) {
	store := core.NewMemoryCache()
	ctx := context.Background()
	receiver := wechat.NewSuiteTickets(store, "", "wwsuite")
	pushed := time.Now().Add(-time.Minute).Truncate(time.Second)
	if ok, err := receiver.Put(ctx, "ticket-1", pushed); !ok || err != nil {
		t.Fatal(ok, err)
	}
	key := "wxtoken:suite_ticket:wwsuite"
	store.Remove(ctx, key)
	if got, err := receiver.Ticket(ctx); err != nil || got != "ticket-1" {
		t.Fatalf("after the loss: %q %v, want the held ticket", got, err)
	}
	if _, err := store.Get(ctx, key); err != nil {
		t.Fatal("the held ticket was not written back")
	}
	store.Remove(ctx, key)
	if ok, err := receiver.Republish(ctx); !ok || err != nil {
		t.Fatalf("Republish after a loss: %v %v", ok, err)
	}
	other := wechat.NewSuiteTickets(store, "", "wwsuite")
	if got, _ := other.Ticket(ctx); got != "ticket-1" {
		t.Fatalf("another node reads %q", got)
	}
	if ok, err := other.Put(ctx, "ticket-2", pushed.Add(30*time.Second)); !ok || err != nil {
		t.Fatal(ok, err)
	}
	if ok, _ := receiver.Republish(ctx); ok {
		t.Fatal("an older held ticket replaced a newer one")
	}
	if got, _ := receiver.Ticket(ctx); got != "ticket-2" {
		t.Fatalf("read %q, want the newer ticket", got)
	}
	// A node that never saw a ticket still reports none.
	store.Remove(ctx, key)
	if _, err := wechat.NewSuiteTickets(store, "", "wwsuite").Ticket(ctx); err != wechat.ErrNoSuiteTicket {
		t.Fatalf("a node holding nothing: %v, want ErrNoSuiteTicket", err)
	}
}

// A key ring seals with its newest key and opens with any; values sealed
// before key ids existed still open; a value sealed with a key dropped
// from the ring says so; Reseal moves a value to the newest key.
func TestKeyRing(t *testing.T) {
	oldKey := []byte("0123456789abcdef0123456789abcdef")
	newKey := []byte("fedcba9876543210fedcba9876543210")
	old, _ := wechat.NewSecretBox(oldKey)
	ring, err := wechat.NewKeyRing(newKey, oldKey)
	if err != nil {
		t.Fatal(err)
	}
	byOld := old.Seal("name", []byte("secret"))
	if got, err := ring.Open("name", byOld); err != nil || string(got) != "secret" {
		t.Fatalf("the ring opens a value of its older key: %q %v", got, err)
	}
	if ring.Current(byOld) || !old.Current(byOld) {
		t.Fatal("Current is wrong about which key sealed a value")
	}
	resealed, changed, err := ring.Reseal("name", byOld)
	if err != nil || !changed || !ring.Current(resealed) {
		t.Fatalf("Reseal: %v %v", changed, err)
	}
	if _, changed, _ := ring.Reseal("name", resealed); changed {
		t.Fatal("Reseal changed a value already under the newest key")
	}
	newOnly, _ := wechat.NewSecretBox(newKey)
	if got, err := newOnly.Open("name", resealed); err != nil || string(got) != "secret" {
		t.Fatalf("after resealing, the old key can go: %q %v", got, err)
	}
	if _, err := newOnly.Open("name", byOld); !errors.Is(err, wechat.ErrSealed) || !strings.Contains(err.Error(), old.KeyID()) {
		t.Fatalf("a value of a key no longer in the ring: %v, want ErrSealed naming key %s", err, old.KeyID())
	}
	// The form before key ids: "s1:" and the same ciphertext.
	legacy := "s1:" + byOld[strings.LastIndex(byOld, ":")+1:]
	if got, err := ring.Open("name", legacy); err != nil || string(got) != "secret" {
		t.Fatalf("an s1 value: %q %v", got, err)
	}
	if _, err := wechat.NewKeyRing(newKey, newKey); err == nil {
		t.Fatal("a ring with the same key twice was accepted")
	}
	if strings.Contains(ring.Seal("n", []byte("x")), base64.StdEncoding.EncodeToString(newKey)[:8]) {
		t.Fatal("the key shows in a sealed value")
	}
}

// A new authorization's refresh token is a new chain numbered after the
// stored one, whatever the clocks: a node a minute fast that rotated the
// old chain cannot write its link back over the new one. (Seen failing:
// the new chain started at this node's clock, below the fast node's
// link, and Republish restored the old token.)
func TestANewChainFollowsAFastNodesLink(t *testing.T) {
	sim, store, m, shop, key := authorizerSetup(t)
	ctx := context.Background()
	if _, err := m.Refresh(ctx, "shop"); err != nil { // shop now holds a rotated link
		t.Fatal(err)
	}
	raw, _ := store.Get(ctx, key)
	var st struct {
		V      int    `json:"v"`
		Seq    int64  `json:"seq"`
		Sealed string `json:"sealed"`
	}
	json.Unmarshal([]byte(raw), &st)
	st.Seq += int64(time.Minute / time.Microsecond) // written by a node a minute fast
	b, _ := json.Marshal(st)
	store.Set(ctx, key, string(b), 0)
	if err := m.UpdateState(ctx, "shop", func(ctx context.Context, req core.FetchRequest) error {
		_, err := shop.Republish(ctx, req) // shop now holds the fast node's link
		return err
	}); err != nil {
		t.Fatal(err)
	}
	// The account authorizes again, handled by another node.
	other := wechat.AuthorizerToken("comp", compAppID, "wxauthorizer0001", newBox(t), wechat.WithBaseURL(sim.URL))
	if err := other.SaveRefreshToken(ctx, store, key, "refreshtoken@@@new-chain"); err != nil {
		t.Fatal(err)
	}
	if err := m.UpdateState(ctx, "shop", func(ctx context.Context, req core.FetchRequest) error {
		done, err := shop.Republish(ctx, req)
		if done {
			t.Error("the old chain's link was written back over the new chain")
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if got := storedRefresh(t, store, key); got != "refreshtoken@@@new-chain" {
		t.Fatalf("the store holds %q, want the new chain", got)
	}
}
