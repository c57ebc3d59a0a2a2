package core_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken/core"
	"github.com/wxtoken/wxtoken/wechat"
	"github.com/wxtoken/wxtoken/wxsim"
)

// A caller with no usable token, during an upstream outage shorter than
// its patience (LockWait, within its context), waits for the next attempt
// instead of failing its business call. The farm found this: a burst of
// errcode -1 / HTTP 500 / dropped connections that outlasted one refresh's
// retries failed every caller that joined it, though the next attempt, a
// few milliseconds later, succeeded.
func TestCallerWaitsOutAShortUpstreamOutage(t *testing.T) {
	sim := newSim(t)
	m := newManager(t, core.WithSettings(core.Settings{FetchAttempts: 2}))
	register(t, m, "k", account(sim))
	// Every attempt of the first refresh fails; the one after succeeds.
	sim.InjectFault(wxsim.Fault{Path: "/cgi-bin/token", Errcode: -1, Times: 1})
	sim.InjectFault(wxsim.Fault{Path: "/cgi-bin/token", HTTPStatus: 502, Times: 1})

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tok, err := m.Token(ctx, "k")
	if err != nil {
		t.Fatalf("rule: a caller waits out a short upstream outage; Token = %v", err)
	}
	if !sim.Valid(tok.Value) || tokenCalls(sim) != 3 {
		t.Fatalf("token valid %v after %d upstream calls, want a valid one after 3 (2 failed, 1 good)", sim.Valid(tok.Value), tokenCalls(sim))
	}
}

// Patience has limits: a permanent refusal answers at once, and an outage
// longer than LockWait ends the wait with upstream's error.
func TestCallerPatienceIsBounded(t *testing.T) {
	sim := newSim(t)
	sim.AddApp("wxother", "the-secret")
	m := newManager(t, core.WithSettings(core.Settings{FetchAttempts: 1, LockTTL: 300 * time.Millisecond, LockWait: 400 * time.Millisecond}))
	register(t, m, "k", account(sim))
	register(t, m, "wrong", wechat.OfficialAccount("wxother", "not-the-secret", wechat.WithBaseURL(sim.URL)))
	ctx := context.Background()

	start := time.Now()
	if _, err := m.Token(ctx, "wrong"); wechat.Code(err) != 40125 || time.Since(start) > time.Second {
		t.Fatalf("a wrong secret = %v after %v, want errcode 40125 at once", err, time.Since(start))
	}

	sim.InjectFault(wxsim.Fault{Path: "/cgi-bin/token", Errcode: -1})
	start = time.Now()
	_, err := m.Token(ctx, "k")
	var ae *wechat.APIError
	if !errors.As(err, &ae) || ae.Code != -1 {
		t.Fatalf("Token through an endless outage = %v, want upstream's errcode -1", err)
	}
	if d := time.Since(start); d < 400*time.Millisecond || d > 3*time.Second {
		t.Fatalf("Token gave up after %v, want after about LockWait (400ms)", d)
	}
}
