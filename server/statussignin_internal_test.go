package server

import (
	"context"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken/core"
)

func TestSessionCookieRules(t *testing.T) {
	ctx := context.Background()
	c := &clients{names: []string{"ops", "billing"}, digests: [][32]byte{sha256.Sum256([]byte("ops-key")), sha256.Sum256([]byte("billing-key"))}}
	store := core.NewMemoryCache()
	ss := newSessions(store, "wxt")
	now := time.Now()
	seal := func(name string, exp time.Time) string {
		t.Helper()
		v, err := ss.seal(ctx, c, name, exp)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	open := func(ss *sessions, c *clients, v string, at time.Time) string {
		t.Helper()
		name, err := ss.open(ctx, c, v, at)
		if err != nil {
			t.Fatal(err)
		}
		return name
	}
	v := seal("ops", now.Add(statusSessionTTL))
	if got := open(ss, c, v, now); got != "ops" {
		t.Fatalf("a fresh session opens as %q, want ops", got)
	}
	if got := open(newSessions(store, "wxt"), c, v, now); got != "ops" {
		t.Errorf("another instance on the same store opens it as %q, want ops (one secret for the fleet)", got)
	}
	if got := open(newSessions(core.NewMemoryCache(), "wxt"), c, v, now); got != "" {
		t.Errorf("an instance on another store opens it as %q (the secret is not the store's)", got)
	}
	if got := open(ss, c, v, now.Add(statusSessionTTL)); got != "" {
		t.Errorf("an ended session opens as %q", got)
	}
	if got := open(ss, c, seal("ops", now.Add(24*time.Hour)), now); got != "" {
		t.Errorf("a session ending a day ahead opens as %q (the MAC is right, the lifetime is not)", got)
	}
	if _, err := ss.seal(ctx, c, "nobody", now.Add(time.Minute)); err == nil {
		t.Errorf("a session for an unknown client was made")
	}
	rotated := &clients{names: c.names, digests: [][32]byte{sha256.Sum256([]byte("new-ops-key")), c.digests[1]}}
	if got := open(ss, rotated, v, now); got != "" {
		t.Errorf("a session of a key since changed opens as %q", got)
	}
	// The MAC is not a function of the client's key alone: knowing the key
	// (or guessing it) does not make a cookie, and a cookie does not let
	// one check guesses of the key offline.
	digest := c.digests[0]
	p, _ := parseSession(v)
	if got := sessionMAC(digest[:], "ops", digest, p.exp, p.id); string(got) == string(p.mac) {
		t.Errorf("the session's MAC is keyed by the client's key")
	}
	for _, bad := range []string{"", "v2", "v1.b3Bz.1.AA", v + ".x", strings.Replace(v, "v2.", "v1.", 1),
		"v2.b3Bz.notanumber.AAAAAAAAAAAAAAAAAAAAAA.AA", "v2.!!.1800000600.AAAAAAAAAAAAAAAAAAAAAA.AA"} {
		if got := open(ss, c, bad, now); got != "" {
			t.Errorf("open(%q) = %q", bad, got)
		}
	}

	// Signing out ends this session on every instance, not the others.
	other := seal("ops", now.Add(statusSessionTTL))
	if err := ss.end(ctx, c, v, now); err != nil {
		t.Fatal(err)
	}
	if got := open(newSessions(store, "wxt"), c, v, now); got != "" {
		t.Errorf("a signed-out session opens as %q", got)
	}
	if got := open(ss, c, other, now); got != "ops" {
		t.Errorf("another session of the same client opens as %q after the first signed out, want ops", got)
	}

	// A store that lost the secret: a new one is made, old sessions end.
	store.Remove(ctx, "wxt:status:{session-secret}")
	fresh := newSessions(store, "wxt")
	if got := open(fresh, c, other, now); got != "" {
		t.Errorf("a session of a lost secret opens as %q", got)
	}
	if got := open(fresh, c, seal("billing", now.Add(time.Minute)), now); got != "" {
		t.Errorf("a session sealed with the old instance's secret opens on the new one as %q", got)
	}
	// The old instance re-reads the store when a session does not verify
	// (at most every rereadEvery), and takes the new secret.
	ss.readAt = time.Time{}
	newer, err := fresh.seal(ctx, c, "billing", now.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if got := open(ss, c, newer, now); got != "billing" {
		t.Errorf("the old instance opens a session of the new secret as %q, want billing", got)
	}
}

// Instances starting at once make one secret, and a stored value that is
// not a secret is an error, not replaced (that would end every session).
func TestSessionSecretMadeOnce(t *testing.T) {
	ctx := context.Background()
	store := slowStore{core.NewMemoryCache()}
	c := &clients{names: []string{"ops"}, digests: [][32]byte{sha256.Sum256([]byte("ops-key"))}}
	const n = 16
	secrets := make([][]byte, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			k, err := newSessions(store, "wxt").key(ctx, false)
			if err != nil {
				t.Error(err)
			}
			secrets[i] = k
		})
	}
	wg.Wait()
	for i := range secrets {
		if string(secrets[i]) != string(secrets[0]) {
			t.Fatalf("instance %d keeps another secret than instance 0: %d instances made more than one", i, n)
		}
	}
	store.Set(ctx, "wxt:status:{session-secret}", "not a secret", 0)
	ss := newSessions(store, "wxt")
	if _, err := ss.seal(ctx, c, "ops", time.Now().Add(time.Minute)); err == nil || !strings.Contains(err.Error(), "remove the key") {
		t.Errorf("sealing with a corrupt stored secret: %v, want an error saying what to do", err)
	}
	if v, _ := store.Get(ctx, "wxt:status:{session-secret}"); v != "not a secret" {
		t.Errorf("the corrupt value was replaced by %q", v)
	}
}

// slowStore is a MemoryCache (and its Locker) whose reads take a
// millisecond and writes up to three, as a network store's may: time for
// instances to interleave.
type slowStore struct{ *core.MemoryCache }

func (s slowStore) Set(ctx context.Context, key, value string, ttl time.Duration) error {
	time.Sleep(time.Duration(rand.IntN(3000)) * time.Microsecond)
	return s.MemoryCache.Set(ctx, key, value, ttl)
}

func (s slowStore) Get(ctx context.Context, key string) (string, error) {
	time.Sleep(time.Millisecond)
	return s.MemoryCache.Get(ctx, key)
}

// A wrong key spends its address's budget once, however often it is
// tried; different keys spend it each, and past the burst the address is
// refused while others are not.
func TestKeyGuessBudget(t *testing.T) {
	g := newKeyGuesses()
	now := time.Unix(1_800_000_000, 0)
	stale := sha256.Sum256([]byte("a stale key"))
	for range 100 {
		g.wrong("10.0.0.1", stale, now)
	}
	if g.limited("10.0.0.1", now) {
		t.Fatal("one wrong key retried 100 times spent the budget")
	}
	for i := range sourceBurst {
		g.wrong("10.0.0.2", sha256.Sum256([]byte{byte(i)}), now)
	}
	if !g.limited("10.0.0.2", now) {
		t.Fatalf("%d different wrong keys did not spend the budget", sourceBurst)
	}
	if g.limited("10.0.0.1", now) || g.limited("10.0.0.3", now) {
		t.Fatal("another address is refused")
	}
	if g.limited("10.0.0.2", now.Add(time.Minute)) {
		t.Fatal("the budget did not refill")
	}
}

// The addresses of one IPv6 /64 are one guesser's, and a flood of
// addresses does not make the budget forget a guesser whose budget is
// spent: past the map's size, new addresses share one budget.
func TestKeyGuessBudgetAgainstManyAddresses(t *testing.T) {
	g := newKeyGuesses()
	now := time.Unix(1_800_000_000, 0)
	for i := range sourceBurst {
		g.wrong(fmt.Sprintf("2001:db8:1:2::%x", i+1), sha256.Sum256([]byte{byte(i)}), now)
	}
	if !g.limited("2001:db8:1:2::ffff", now) {
		t.Error("different addresses of one /64 did not share a budget")
	}
	if g.limited("2001:db8:1:3::1", now) {
		t.Error("another /64 is limited")
	}
	for i := range sourceBurst {
		g.wrong("192.0.2.7", sha256.Sum256([]byte{1, byte(i)}), now)
	}
	for i := range 3 * maxSources {
		g.wrong(fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255), sha256.Sum256([]byte{2, byte(i), byte(i >> 8)}), now)
	}
	if !g.limited("192.0.2.7", now) {
		t.Error("a flood of addresses made the budget forget a guesser")
	}
	if !g.limited("198.51.100.200", now) {
		t.Error("past the map's size, new addresses do not share a budget")
	}
	if g.limited("198.51.100.200", now.Add(5*time.Minute)) {
		t.Error("the shared budget does not refill")
	}
	if n := len(g.budget.sources); n > maxSources+1 {
		t.Errorf("the budget holds %d addresses, want at most %d", n, maxSources+1)
	}
}

// A trusted proxy's hop written as address:port names its sender.
func TestSourceOfAddressPortHops(t *testing.T) {
	ps, _ := parseProxies([]string{"127.0.0.1"})
	r := httptest.NewRequest("GET", "http://127.0.0.1/", nil)
	r.RemoteAddr = "127.0.0.1:4000"
	r.Header.Set("X-Forwarded-For", "203.0.113.9:5678")
	if got := ps.sourceOf(r); got != "203.0.113.9" {
		t.Errorf("sourceOf with an address:port hop: %q, want 203.0.113.9", got)
	}
	r.Header.Set("X-Forwarded-For", "[2001:db8::5]:443")
	if got := ps.sourceOf(r); got != "2001:db8::5" {
		t.Errorf("sourceOf with an [IPv6]:port hop: %q, want 2001:db8::5", got)
	}
}
