package wechat

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/wxtoken/wxtoken/core"
	"github.com/wxtoken/wxtoken/internal/beijing"
)

// Limits of force_refresh on /cgi-bin/stable_token.
const (
	ForceRefreshPerDay   = 20
	ForceRefreshInterval = 30 * time.Second
)

// ErrForceRefreshQuota is returned when a forced stable_token refresh would
// exceed its daily quota or come sooner than 30 s after the previous one.
// It wraps no APIError: the call was not made.
var ErrForceRefreshQuota = errors.New("wechat: stable_token force_refresh quota")

// StableSource fetches from POST /cgi-bin/stable_token. In normal mode it
// returns the live token while it is valid (upstream renews it 5 minutes
// before expiry), so refreshes cost nothing. It asks for force_refresh only
// when a passive refresh finds that normal mode still returns the very
// token a business API rejected, and then counts and spaces such calls in
// the shared store, for the whole fleet.
type StableSource struct {
	appID  string
	secret string
	c      client
	now    func() time.Time // the force_refresh ledger's day
}

// StableToken returns the Source of a stable access_token. Its tokens are
// separate from those of /cgi-bin/token.
func StableToken(appID, secret string, opts ...Option) *StableSource {
	return &StableSource{appID: appID, secret: secret, c: newClient(WeChatBaseURL, opts, secret), now: time.Now}
}

// Identity implements core.Identified: "stable:" + appid.
func (s *StableSource) Identity() string { return "stable:" + s.appID }

type stableRequest struct {
	GrantType    string `json:"grant_type"`
	AppID        string `json:"appid"`
	Secret       string `json:"secret"`
	ForceRefresh bool   `json:"force_refresh"`
}

// Fetch implements core.Source.
func (s *StableSource) Fetch(ctx context.Context, req core.FetchRequest) (core.Token, error) {
	tok, err := s.get(ctx, req, false)
	if err != nil || req.Rejected == "" || tok.Value != req.Rejected {
		return tok, err
	}
	if err := s.spendForce(ctx, req); err != nil {
		return core.Token{}, err
	}
	return s.get(ctx, req, true)
}

// StableRenewWindow is how long before expiry upstream starts answering
// stable_token's normal mode with a new token.
const StableRenewWindow = 5 * time.Minute

func (s *StableSource) get(ctx context.Context, req core.FetchRequest, force bool) (core.Token, error) {
	body := stableRequest{GrantType: "client_credential", AppID: s.appID, Secret: s.secret, ForceRefresh: force}
	tok, err := s.c.call(ctx, req.Now, http.MethodPost, "/cgi-bin/stable_token", nil, body, "access_token")
	if err != nil {
		return tok, err
	}
	// Normal mode answers this token until the renewal window: no sooner
	// is a new one to be had. A token granted less than two windows (a
	// compressed lifetime in a test) renews at half its lifetime, as the
	// simulator does.
	life := tok.ExpiresAt.Sub(tok.IssuedAt)
	tok.RenewAt = tok.ExpiresAt.Add(-min(StableRenewWindow, life/2))
	return tok, nil
}

// Verify implements core.Verifier with /cgi-bin/get_api_domain_ip.
func (s *StableSource) Verify(ctx context.Context, token string) (bool, error) {
	return s.c.verify(ctx, token)
}

// forceLedger is the fleet-wide record of forced refreshes, kept in the
// shared cache under the credential's state prefix.
type forceLedger struct {
	Day   string `json:"day"`
	Count int    `json:"count"`
	Last  int64  `json:"last"`
}

// spendForce checks and records one forced refresh. The Manager calls Fetch
// under the fleet lock, so read-then-write here is not racy.
func (s *StableSource) spendForce(ctx context.Context, req core.FetchRequest) error {
	now := s.now()
	day := beijing.Day(now)
	var l forceLedger
	key := req.StatePrefix + "force_refresh"
	if req.State != nil {
		if raw, err := req.State.Get(ctx, key); err == nil {
			_ = json.Unmarshal([]byte(raw), &l) // a corrupt ledger counts as empty
		}
	}
	if l.Day != day {
		l = forceLedger{Day: day}
	}
	if l.Count >= ForceRefreshPerDay {
		return fmt.Errorf("%w: %d used today", ErrForceRefreshQuota, l.Count)
	}
	if since := now.Sub(time.Unix(l.Last, 0)); since < ForceRefreshInterval {
		return fmt.Errorf("%w: the last one was %s ago", ErrForceRefreshQuota, since.Round(time.Second))
	}
	l.Count++
	l.Last = now.Unix()
	if req.State != nil {
		b, _ := json.Marshal(l)
		if err := req.State.Set(ctx, key, string(b), 48*time.Hour); err != nil {
			return fmt.Errorf("wechat: recording a forced refresh: %w", err)
		}
	}
	return nil
}
