package conformance

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken/core"
	"github.com/wxtoken/wxtoken/internal/fleet"
	"github.com/wxtoken/wxtoken/wxsim"
)

// TestOutage takes the store down under a farm's traffic and brings it back,
// through the down and up functions the caller gives (pause and unpause a
// container, say). Clients must give up on a dead store within a second
// (client timeouts, or honouring the context).
//
//   - A short outage, while the token is still usable: every node keeps
//     serving it, no business call is refused, and when the store returns
//     one refresh replaces the token for everyone.
//   - An outage past expiry: nodes refresh on their own (rate limited);
//     when the store returns, the fleet converges on one token, valid
//     upstream, with no manual step.
func TestOutage(t *testing.T, newBackend func(t *testing.T) Backend, down, up func(t testing.TB)) {
	const (
		life     = 10 * time.Second
		managers = 4
	)
	sim := wxsim.NewServer(wxsim.WithLifetime(life), wxsim.WithOverlap(2*time.Second))
	t.Cleanup(sim.Close)
	prefix := strings.TrimSuffix(uniquePrefix(), ":")
	appID := "wxoutage" + prefix[len(prefix)-10:]
	sim.AddApp(appID, "outage-secret")
	id := "token:" + appID
	logger := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelError}))
	var ms []*core.Manager
	for range managers {
		m, err := fleet.NewNodeManager(fleet.NodeConfig{Backend: newBackend(t), SimURL: sim.URL, AppID: appID, Secret: "outage-secret",
			Lifetime: life, KeyPrefix: prefix, Logger: logger,
			Tune: func(s *core.Settings) {
				s.CacheTimeout, s.DegradedInterval, s.DegradedAfter = 500*time.Millisecond, time.Minute, 1500*time.Millisecond
			}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close() })
		ms = append(ms, m)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var runs sync.WaitGroup
	defer runs.Wait()
	defer cancel()
	for _, m := range ms {
		runs.Go(func() { _ = m.Run(ctx) })
	}
	c := fleet.NewChecker(sim.URL, 16)
	for _, m := range ms {
		if _, err := m.Token(ctx, fleet.Key); err != nil {
			t.Fatal(err)
		}
	}
	start := sim.Issues(id)[0]

	t.Run("ShortOutageServesUsableToken", func(t *testing.T) {
		// The token turns stale at 6.25 s and unusable at 9 s; the store is
		// down from 3 s to 7.5 s, across the stale point.
		tctx, tcancel := context.WithDeadline(ctx, start.Add(12*time.Second))
		defer tcancel()
		report := make(chan fleet.NodeReport, len(ms))
		for _, m := range ms {
			go func() { report <- fleet.Drive(tctx, m, fleet.Key, 16, c) }()
		}
		time.Sleep(time.Until(start.Add(3 * time.Second)))
		down(t)
		time.Sleep(time.Until(start.Add(7500 * time.Millisecond)))
		up(t)
		var total fleet.NodeReport
		for range ms {
			total.Add(<-report)
		}
		t.Logf("traffic across a 4.5 s outage: %+v; fetches %d", total, len(sim.Issues(id)))
		if total.Refused != 0 || total.TokenErrors != 0 || total.Checks == 0 {
			t.Errorf("rule: while the token is usable, nodes serve it through an outage with no refused call and no error; got %+v (first error %v)", total, total.FirstError)
		}
		if n := len(sim.Issues(id)); n != 2 {
			t.Errorf("rule: one refresh after the store returns, none during the outage while the token is usable; %d fetches in all, want 2", n)
		}
		converged(t, ms, sim, id)
	})

	t.Run("LongOutageConverges", func(t *testing.T) {
		down(t)
		// Past the expiry of the token in hand: nodes must fetch on their own.
		time.Sleep(time.Until(sim.Issues(id)[len(sim.Issues(id))-1].Add(life + time.Second)))
		for _, m := range ms {
			tctx, tcancel := context.WithTimeout(ctx, 3*time.Second)
			if _, err := m.Token(tctx, fleet.Key); err != nil {
				t.Errorf("rule: with the store down and the token expired, a node refreshes on its own; Token = %v", err)
			}
			tcancel()
		}
		up(t)
		converged(t, ms, sim, id)
	})
}

// converged waits until every Manager serves the newest token wxsim
// issued, and that token is valid.
func converged(t *testing.T, ms []*core.Manager, sim *wxsim.Server, id string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		want := sim.Current(id)
		same := sim.Valid(want)
		for _, m := range ms {
			tok, err := m.Token(context.Background(), fleet.Key)
			if err != nil || tok.Value != want {
				same = false
			}
		}
		if same {
			return
		}
		if time.Now().After(deadline) {
			var got []string
			for _, m := range ms {
				tok, _ := m.Token(context.Background(), fleet.Key)
				got = append(got, short(tok.Value))
			}
			t.Fatalf("rule: after the store returns the fleet converges on one valid token; after 10 s nodes serve %v, newest issued %s", got, short(want))
		}
		time.Sleep(50 * time.Millisecond)
	}
}
