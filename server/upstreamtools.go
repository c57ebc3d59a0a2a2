package server

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/wxtoken/wxtoken/core"
	"github.com/wxtoken/wxtoken/internal/beijing"
	"github.com/wxtoken/wxtoken/lock"
	"github.com/wxtoken/wxtoken/wechat"
)

// ClearsPerMonth is how many clear_quota calls upstream allows an account
// in a calendar month.
const ClearsPerMonth = 10

// ErrClearLimit is returned by ClearQuota when the month's clears are
// spent, by the fleet's count or by upstream's (errcode 48006).
var ErrClearLimit = errors.New("server: this month's clear_quota uses are spent")

// toolsFor returns upstream's account tools and the token to use them
// with for app: the account's own token, or the component's for a
// component app, got through the fleet as any node gets it. WeCom apps
// have no such tools.
func (s *Server) toolsFor(ctx context.Context, appID string) (*app, *wechat.Tools, string, error) {
	a, ok := s.apps[appID]
	if !ok {
		return nil, nil, "", fmt.Errorf("server: no app %q in the config", appID)
	}
	if !hasQuota(a) {
		return nil, nil, "", fmt.Errorf("server: app %q is kind %s: upstream's quota, rid and clear_quota tools are for official accounts, mini programs and Open Platform components", appID, a.Kind)
	}
	tok, err := s.mgr.Token(ctx, a.tokenKey)
	if err != nil {
		return nil, nil, "", fmt.Errorf("server: app %q: its token: %w", appID, err)
	}
	return a, s.tools(a), tok.Value, nil
}

// tools returns upstream's account tools for a, on the configured
// upstream, blanking a's secret from what they return.
func (s *Server) tools(a *app) *wechat.Tools {
	wechatOpts, _ := s.upstreamOptions()
	return wechat.NewTools(append(append([]wechat.Option(nil), wechatOpts...), wechat.WithRedacted(a.redact...))...)
}

// Quota asks upstream for app's quota of the API at cgiPath today: its
// own count, which includes callers other than this fleet.
func (s *Server) Quota(ctx context.Context, appID, cgiPath string) (wechat.Quota, error) {
	_, tools, tok, err := s.toolsFor(ctx, appID)
	if err != nil {
		return wechat.Quota{}, err
	}
	return tools.Quota(ctx, tok, cgiPath)
}

// Rid asks upstream what happened in app's failed call whose errmsg ended
// with rid (up to 7 days old).
func (s *Server) Rid(ctx context.Context, appID, rid string) (wechat.RidInfo, error) {
	_, tools, tok, err := s.toolsFor(ctx, appID)
	if err != nil {
		return wechat.RidInfo{}, err
	}
	return tools.Rid(ctx, tok, rid)
}

// ClearsThisMonth returns how many times the fleet cleared app's quota in
// the current Beijing month, by its count in the state store.
func (s *Server) ClearsThisMonth(ctx context.Context, appID string) (int, error) {
	a, ok := s.apps[appID]
	if !ok {
		return 0, fmt.Errorf("server: no app %q in the config", appID)
	}
	return s.clearCount(ctx, a, time.Now())
}

func (s *Server) clearCountKey(a *app, now time.Time) string {
	return s.cfg.KeyPrefix + ":clears:" + a.AppID + ":" + beijing.Day(now)[:7]
}

func (s *Server) clearCount(ctx context.Context, a *app, now time.Time) (int, error) {
	raw, err := s.state.Get(ctx, s.clearCountKey(a, now))
	switch {
	case errors.Is(err, core.ErrNotFound):
		return 0, nil
	case err != nil:
		return 0, fmt.Errorf("server: the month's clear_quota count: %w", err)
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("server: the month's clear_quota count %q is corrupt", raw)
	}
	return n, nil
}

// ClearQuota runs upstream's clear_quota for app (the component's own for
// a component app): an operator's decision, never automatic. It refuses,
// without asking upstream, once the month's uses counted in the state
// store reach ClearsPerMonth, and counts each use it makes; a count the
// store cannot read or write refuses too, so that no use goes uncounted.
// It returns the month's uses after this one.
func (s *Server) ClearQuota(ctx context.Context, appID string) (int, error) {
	a, ok := s.apps[appID]
	if !ok {
		return 0, fmt.Errorf("server: no app %q in the config", appID)
	}
	now := time.Now()
	if l, ok := s.state.(lock.Locker); ok {
		// One clear at a time for the fleet: two at once would both read
		// the count, both pass it and both spend a use.
		lease, err := l.TryLock(ctx, s.clearCountKey(a, now)+":lock", time.Minute)
		if err != nil {
			return 0, fmt.Errorf("server: another clear of app %q is under way, or the state store does not answer: %w", appID, err)
		}
		defer func() { _ = lease.Unlock(context.WithoutCancel(ctx)) }()
	}
	used, err := s.clearCount(ctx, a, now)
	if err != nil {
		return 0, err
	}
	if used >= ClearsPerMonth {
		return used, fmt.Errorf("%w: %d of %d", ErrClearLimit, used, ClearsPerMonth)
	}
	a, tools, tok, err := s.toolsFor(ctx, appID)
	if err != nil {
		return used, err
	}
	// Counted before upstream is asked: a use that upstream made but
	// this count missed would let a later clear past the limit.
	if err := s.state.Set(ctx, s.clearCountKey(a, now), strconv.Itoa(used+1), 40*24*time.Hour); err != nil {
		return used, fmt.Errorf("server: counting the clear_quota use: %w", err)
	}
	if a.Kind == KindComponent {
		err = tools.ClearComponentQuota(ctx, tok, a.AppID)
	} else {
		err = tools.ClearQuota(ctx, tok, a.AppID)
	}
	if wechat.Code(err) == wechat.CodeClearLimit {
		// Spent by someone else (another system, the console): the fleet's
		// count follows upstream's.
		_ = s.state.Set(context.WithoutCancel(ctx), s.clearCountKey(a, now), strconv.Itoa(ClearsPerMonth), 40*24*time.Hour)
		return ClearsPerMonth, fmt.Errorf("%w: upstream says so (%w)", ErrClearLimit, err)
	}
	if err != nil {
		return used + 1, err
	}
	return used + 1, nil
}
