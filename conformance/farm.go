package conformance

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken/core"
	"github.com/wxtoken/wxtoken/internal/fleet"
	"github.com/wxtoken/wxtoken/wxsim"
)

// TestFarm runs a fleet on the store: FarmManagers Managers, each on its
// own client, serve one official account's token to FarmGoroutines callers
// each, against wxsim with short lifetimes, through FarmExpiries lifetimes.
// It checks the three promises of wxtoken: exactly one upstream call per
// refresh for the whole fleet, zero 40001/42001 answers from a business API
// for the tokens served, and one upstream call when every Manager reports
// the same rejected token.
func TestFarm(t *testing.T, newBackend func(t *testing.T) Backend, opts ...Options) {
	o := first(opts)
	f := newFarm(t, newBackend, o)

	t.Run("OneFetchPerExpiryAndNoRejections", func(t *testing.T) {
		f.traffic(t, time.Duration(o.FarmExpiries)*o.FarmLifetime+o.FarmLifetime/2)
		f.checkFetches(t)
	})
	t.Run("RevokedTokenReportedByEveryNodeFetchesOnce", func(t *testing.T) {
		f.invalidateAll(t)
	})
}

type farm struct {
	o        Options
	sim      *wxsim.Server
	appID    string
	managers []*core.Manager
	check    fleet.Checker
}

func newFarm(t *testing.T, newBackend func(t *testing.T) Backend, o Options) *farm {
	life := o.FarmLifetime
	// The overlap is what upstream's 5 minutes are to 2 hours, but no less
	// than a second, so the test cannot pass by luck of a long overlap.
	sim := wxsim.NewServer(wxsim.WithLifetime(life), wxsim.WithOverlap(max(life/4, time.Second)))
	t.Cleanup(sim.Close)
	prefix := strings.TrimSuffix(uniquePrefix(), ":")
	f := &farm{o: o, sim: sim, appID: "wxfarm" + prefix[len(prefix)-12:]}
	f.check = fleet.NewChecker(sim.URL, 64)
	sim.AddApp(f.appID, "farm-secret")
	logger := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, cancel := context.WithCancel(context.Background())
	var runs sync.WaitGroup
	t.Cleanup(func() {
		cancel()
		runs.Wait()
		for _, m := range f.managers {
			m.Close()
		}
	})
	for range o.FarmManagers {
		m, err := fleet.NewNodeManager(fleet.NodeConfig{Backend: newBackend(t), SimURL: sim.URL, AppID: f.appID, Secret: "farm-secret",
			Lifetime: life, KeyPrefix: prefix, Logger: logger})
		if err != nil {
			t.Fatal(err)
		}
		f.managers = append(f.managers, m)
		runs.Go(func() { _ = m.Run(ctx) })
	}
	return f
}

// traffic runs every caller of every Manager for d and checks the
// fleet-wide outcome.
func (f *farm) traffic(t *testing.T, d time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	total := fleet.DriveFleetWith(ctx, f.managers, fleet.Key, f.o.FarmGoroutines, f.check)
	st := f.sim.Stats()
	t.Logf("%d managers x %d goroutines for %v: %d tokens served, %d business calls, %d refused (by errcode: %v), %d upstream token calls",
		len(f.managers), f.o.FarmGoroutines, d, total.Served, total.Checks, st.FailedChecks(), st.CheckErrors, st.Calls["/cgi-bin/token"])
	if total.Checks == 0 {
		t.Fatal("no business call completed: the farm did not run")
	}
	if n := st.FailedChecks(); n != 0 {
		t.Errorf("rule: zero 40001/42001 from business APIs for the tokens served; got %d (%v)", n, st.CheckErrors)
	}
	if total.TokenErrors != 0 {
		t.Errorf("rule: Token never fails while upstream is healthy; %d calls failed, the first with: %v", total.TokenErrors, total.FirstError)
	}
}

// checkFetches asserts one upstream call per refresh for the farm.
func (f *farm) checkFetches(t *testing.T) {
	issues := f.sim.Issues("token:" + f.appID)
	if calls := f.sim.Stats().Calls["/cgi-bin/token"]; calls != len(issues) {
		t.Errorf("rule: every upstream call succeeds in a healthy farm; %d calls issued %d tokens", calls, len(issues))
	}
	fleet.CheckRefreshes(t, issues, f.o.FarmLifetime, f.o.FarmExpiries, f.o.FarmAllowExtraFetch)
}

// invalidateAll first reports the live, valid token from every Manager
// (spurious reports: no upstream token call), then revokes it upstream and
// reports it again from every Manager at once: one upstream call and one
// new token for all.
func (f *farm) invalidateAll(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	id := "token:" + f.appID
	// Start right after a scheduled refresh, so that none falls inside the
	// measurement.
	n := len(f.sim.Issues(id))
	for len(f.sim.Issues(id)) == n {
		if ctx.Err() != nil {
			t.Fatal("no scheduled refresh happened within 30s: Run is not keeping the token fresh")
		}
		time.Sleep(10 * time.Millisecond)
	}
	bad := f.sim.Current(id)
	for _, m := range f.managers { // every node serves the live token
		for {
			tok, err := m.Token(ctx, fleet.Key)
			if err != nil {
				t.Fatalf("Token: %v", err)
			}
			if tok.Value == bad {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("rule: every node serves the live token within the local TTL; a Manager still serves %s, not %s", short(tok.Value), short(bad))
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	before := len(f.sim.Issues(id))
	for _, m := range f.managers {
		tok, err := m.Invalidate(ctx, fleet.Key, bad)
		if err != nil || tok.Value != bad {
			t.Fatalf("rule: a report of a token upstream accepts keeps it; got %s, %v", short(tok.Value), err)
		}
	}
	if n := len(f.sim.Issues(id)) - before; n != 0 {
		t.Fatalf("rule: reports of a token upstream accepts cost no upstream token call; they cost %d", n)
	}
	// Past the window in which the confirmation answers reports, the
	// token is revoked: the next reports must replace it.
	time.Sleep(core.DefaultSettings().VerifyInterval + 100*time.Millisecond)
	f.sim.Revoke(bad)
	var wg sync.WaitGroup
	got := make([]string, len(f.managers)*4)
	errs := make([]error, len(got))
	for i := range got {
		m := f.managers[i%len(f.managers)]
		wg.Go(func() {
			tok, err := m.Invalidate(ctx, fleet.Key, bad)
			got[i], errs[i] = tok.Value, err
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("Invalidate: %v", err)
	}
	if n := len(f.sim.Issues(id)) - before; n != 1 {
		t.Errorf("rule: Invalidate of one rejected token from %d managers costs one upstream call; it cost %d", len(f.managers), n)
	}
	for i, v := range got {
		if v == bad || v != got[0] {
			t.Fatalf("rule: every Invalidate returns the same new token; caller %d got %s, caller 0 %s (rejected %s)",
				i, short(v), short(got[0]), short(bad))
		}
	}
	if !f.sim.Valid(got[0]) {
		t.Fatalf("rule: the token Invalidate returns is accepted upstream")
	}
}

func short(s string) string {
	if len(s) > 12 {
		return s[:12] + "…"
	}
	return fmt.Sprint(s)
}
