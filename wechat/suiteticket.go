package wechat

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/wxtoken/wxtoken/core"
)

// SuiteTicketLifetime is how long WeCom accepts a pushed suite_ticket.
const SuiteTicketLifetime = 30 * time.Minute

// ErrNoSuiteTicket is returned when no live suite_ticket has been pushed.
var ErrNoSuiteTicket = errors.New("wechat: no suite_ticket received yet (WeCom pushes one every 10 minutes)")

// SuiteTicketClockWindow is how far a push's TimeStamp may be from this
// node's clock. WeCom pushes every 10 minutes and stamps the push when it
// sends it.
const SuiteTicketClockWindow = 10 * time.Minute

// ErrSuiteTicketTime is wrapped by Put's error for a TimeStamp it refuses:
// ahead of or behind this node's clock by more than SuiteTicketClockWindow,
// or in milliseconds. The ordering of pushes trusts the TimeStamp, so one a
// day ahead would otherwise shut out every genuine push for a day.
var ErrSuiteTicketTime = errors.New("wechat: suite_ticket timestamp refused")

// SuiteTickets keeps the suite_tickets WeCom pushes in the shared cache, so
// that whichever node receives the callback, every node can fetch the
// suite_access_token. Pushes are ordered by their TimeStamp: an older push
// arriving late never replaces a newer ticket.
type SuiteTickets struct {
	cache core.Cache
	key   string
}

// NewSuiteTickets stores the tickets of suiteID under
// {prefix}:suite_ticket:{suiteID}.
func NewSuiteTickets(cache core.Cache, prefix, suiteID string) *SuiteTickets {
	if prefix == "" {
		prefix = core.DefaultKeyPrefix
	}
	return &SuiteTickets{cache: cache, key: prefix + ":suite_ticket:" + suiteID}
}

// Put records a ticket pushed at the callback's TimeStamp. It reports
// whether the ticket was stored: false when a newer one is already held.
// Two pushes racing on two nodes may both be written; the next push (10
// minutes later) settles it, and both tickets stay valid meanwhile.
//
// The TimeStamp must be Unix seconds within SuiteTicketClockWindow of this
// node's clock (ErrSuiteTicketTime otherwise), and a stored ticket is read
// back before Put reports it stored.
func (s *SuiteTickets) Put(ctx context.Context, ticket string, pushedAt time.Time) (bool, error) {
	if ticket == "" {
		return false, errors.New("wechat: empty suite_ticket")
	}
	if err := checkPushTime(pushedAt, time.Now()); err != nil {
		return false, err
	}
	if held, err := s.read(ctx); err == nil && !pushedAt.After(held.IssuedAt) {
		return false, nil
	} else if err != nil && !errors.Is(err, core.ErrNotFound) {
		return false, err
	}
	expires := pushedAt.Add(SuiteTicketLifetime)
	ttl := time.Until(expires)
	if ttl <= 0 {
		return false, fmt.Errorf("wechat: suite_ticket pushed at %s has already expired", pushedAt.Format(time.RFC3339))
	}
	doc, err := core.EncodeToken(core.Token{Value: ticket, IssuedAt: pushedAt, ExpiresAt: expires})
	if err != nil {
		return false, err
	}
	if err := s.cache.Set(ctx, s.key, doc, ttl); err != nil {
		return false, err
	}
	held, err := s.read(ctx)
	switch {
	case err != nil && !errors.Is(err, core.ErrNotFound):
		return false, err
	case err == nil && held.Value == ticket:
		return true, nil
	case err == nil && held.IssuedAt.After(pushedAt):
		return false, nil // a newer push, taken by another node meanwhile
	}
	return false, errors.New("wechat: the stored suite_ticket did not read back")
}

// checkPushTime refuses a push TimeStamp Put cannot order by.
func checkPushTime(at, now time.Time) error {
	switch {
	case at.Unix() > 1e11:
		return fmt.Errorf("%w: %d looks like milliseconds; send the push's TimeStamp in Unix seconds", ErrSuiteTicketTime, at.Unix())
	case at.After(now.Add(SuiteTicketClockWindow)):
		return fmt.Errorf("%w: %s is %v ahead of this node's clock (at most %v)", ErrSuiteTicketTime,
			at.UTC().Format(time.RFC3339), at.Sub(now).Round(time.Second), SuiteTicketClockWindow)
	case at.Before(now.Add(-SuiteTicketClockWindow)):
		return fmt.Errorf("%w: %s is too old, %v behind this node's clock (at most %v)", ErrSuiteTicketTime,
			at.UTC().Format(time.RFC3339), now.Sub(at).Round(time.Second), SuiteTicketClockWindow)
	}
	return nil
}

// Ticket returns the newest live ticket. It implements SuiteTicketReader.
func (s *SuiteTickets) Ticket(ctx context.Context) (string, error) {
	t, err := s.read(ctx)
	if errors.Is(err, core.ErrNotFound) || (err == nil && !t.Valid(time.Now())) {
		return "", ErrNoSuiteTicket
	}
	return t.Value, err
}

func (s *SuiteTickets) read(ctx context.Context) (core.Token, error) {
	raw, err := s.cache.Get(ctx, s.key)
	if err != nil {
		return core.Token{}, err
	}
	t, err := core.DecodeToken(raw)
	if err != nil {
		return core.Token{}, core.ErrNotFound // corrupt: the next push overwrites it
	}
	return t, nil
}
