package wechat

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/wxtoken/wxtoken/core"
)

// Lifetimes of the pushed tickets: how long upstream accepts one.
const (
	SuiteTicketLifetime     = 30 * time.Minute // WeCom's suite_ticket
	ComponentTicketLifetime = 12 * time.Hour   // the Open Platform's component_verify_ticket
)

var (
	// ErrNoSuiteTicket is returned when no live suite_ticket has been pushed.
	ErrNoSuiteTicket = errors.New("wechat: no suite_ticket received yet (WeCom pushes one every 10 minutes)")
	// ErrNoComponentTicket is returned when no live component_verify_ticket
	// has been pushed.
	ErrNoComponentTicket = errors.New("wechat: no component_verify_ticket received yet (the Open Platform pushes one every 10 minutes)")
)

// PushClockWindow is how far a push's time stamp may be from this node's
// clock. Upstream pushes every 10 minutes and stamps the push when it
// sends it.
const PushClockWindow = 10 * time.Minute

// PushClockAhead is how far a push's time stamp may be ahead of this
// node's clock: a clock difference, not a delay, so less than
// PushClockWindow. Newest push wins, so a ticket stamped far ahead would
// shut out the genuine pushes stamped before it; two minutes leaves room
// for a clock that drifted.
const PushClockAhead = 2 * time.Minute

// ErrPushTime is wrapped by Put's error for a push time it refuses: ahead
// of this node's clock by more than PushClockAhead, behind it by more than
// PushClockWindow, or in milliseconds. The ordering of pushes trusts the
// time stamp, so one a day ahead would otherwise shut out every genuine
// push for a day.
var ErrPushTime = errors.New("wechat: push timestamp refused")

// PushedTickets keeps the tickets upstream pushes to a callback URL (a
// WeCom suite's suite_ticket, an Open Platform component's
// component_verify_ticket) in the shared cache, so that whichever node
// receives the callback, every node can fetch the token that needs it.
// Pushes are ordered by their time stamp: an older push arriving late
// never replaces a newer ticket.
//
// Each node also holds the newest ticket it has seen (received or read):
// when the store lost it (a flush, a restart without persistence), Ticket
// writes it back instead of reporting none, and Republish does so on
// demand.
type PushedTickets struct {
	cache    core.Cache
	key      string
	kind     string
	lifetime time.Duration
	none     error

	mu   sync.Mutex
	held core.Token // the newest ticket seen, by push time
}

// NewSuiteTickets keeps the suite_tickets of suiteID under
// {prefix}:suite_ticket:{suiteID}.
func NewSuiteTickets(cache core.Cache, prefix, suiteID string) *PushedTickets {
	return newPushedTickets(cache, prefix, "suite_ticket", suiteID, SuiteTicketLifetime, ErrNoSuiteTicket)
}

// NewComponentTickets keeps the component_verify_tickets of a component
// under {prefix}:component_verify_ticket:{appID}.
func NewComponentTickets(cache core.Cache, prefix, appID string) *PushedTickets {
	return newPushedTickets(cache, prefix, "component_verify_ticket", appID, ComponentTicketLifetime, ErrNoComponentTicket)
}

func newPushedTickets(cache core.Cache, prefix, kind, id string, life time.Duration, none error) *PushedTickets {
	if prefix == "" {
		prefix = core.DefaultSettings().KeyPrefix
	}
	return &PushedTickets{cache: cache, key: prefix + ":" + kind + ":" + id, kind: kind, lifetime: life, none: none}
}

// Put records a ticket pushed at the callback's time stamp. It reports
// whether the ticket was stored: false when a newer one is already held.
// Two pushes racing on two nodes may both be written; the next push (10
// minutes later) settles it, and both tickets stay valid meanwhile.
//
// The push time must be Unix seconds within PushClockWindow of this node's
// clock (ErrPushTime otherwise), and a stored ticket is read back before
// Put reports it stored.
func (s *PushedTickets) Put(ctx context.Context, ticket string, pushedAt time.Time) (bool, error) {
	if ticket == "" {
		return false, fmt.Errorf("wechat: empty %s", s.kind)
	}
	if err := checkPushTime(pushedAt, time.Now()); err != nil {
		return false, err
	}
	if held, err := s.read(ctx); err == nil && !pushedAt.After(held.IssuedAt) {
		return false, nil
	} else if err != nil && !errors.Is(err, core.ErrNotFound) {
		return false, err
	}
	expires := pushedAt.Add(s.lifetime)
	ttl := time.Until(expires)
	if ttl <= 0 {
		return false, fmt.Errorf("wechat: %s pushed at %s has already expired", s.kind, pushedAt.Format(time.RFC3339))
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
		s.hold(held)
		return true, nil
	case err == nil && held.IssuedAt.After(pushedAt):
		s.hold(held)
		return false, nil // a newer push, taken by another node meanwhile
	}
	return false, fmt.Errorf("wechat: the stored %s did not read back", s.kind)
}

// checkPushTime refuses a push TimeStamp Put cannot order by.
func checkPushTime(at, now time.Time) error {
	switch {
	case at.Unix() > 1e11:
		return fmt.Errorf("%w: %d looks like milliseconds; send the push's TimeStamp in Unix seconds", ErrPushTime, at.Unix())
	case at.After(now.Add(PushClockAhead)):
		return fmt.Errorf("%w: %s is %v ahead of this node's clock (at most %v)", ErrPushTime,
			at.UTC().Format(time.RFC3339), at.Sub(now).Round(time.Second), PushClockAhead)
	case at.Before(now.Add(-PushClockWindow)):
		return fmt.Errorf("%w: %s is too old, %v behind this node's clock (at most %v)", ErrPushTime,
			at.UTC().Format(time.RFC3339), now.Sub(at).Round(time.Second), PushClockWindow)
	}
	return nil
}

// Ticket returns the newest live ticket. It implements TicketReader.
// When the store holds none but this node holds a live one, that one is
// written back and returned.
func (s *PushedTickets) Ticket(ctx context.Context) (string, error) {
	t, err := s.read(ctx)
	now := time.Now()
	if errors.Is(err, core.ErrNotFound) || (err == nil && !t.Valid(now)) {
		if h, ok := s.live(now); ok && h.IssuedAt.After(t.IssuedAt) {
			if _, err := s.write(ctx, h); err != nil {
				return "", err
			}
			return h.Value, nil
		}
		return "", s.none
	}
	if err != nil {
		return "", err
	}
	s.hold(t)
	return t.Value, nil
}

// Republish writes the ticket this node holds back to the store if the
// store lost it (it holds none, or an older push), and reports whether it
// did: after the store lost data, the node that received the last push
// may be the only one that has it.
func (s *PushedTickets) Republish(ctx context.Context) (bool, error) {
	h, ok := s.live(time.Now())
	if !ok {
		return false, nil
	}
	t, err := s.read(ctx)
	switch {
	case err == nil && !t.IssuedAt.Before(h.IssuedAt):
		s.hold(t)
		return false, nil
	case err != nil && !errors.Is(err, core.ErrNotFound):
		return false, err
	}
	return s.write(ctx, h)
}

// write stores held ticket h under the rules of Put.
func (s *PushedTickets) write(ctx context.Context, h core.Token) (bool, error) {
	ttl := time.Until(h.ExpiresAt)
	if ttl <= 0 {
		return false, nil
	}
	doc, err := core.EncodeToken(h)
	if err != nil {
		return false, err
	}
	if err := s.cache.Set(ctx, s.key, doc, ttl); err != nil {
		return false, err
	}
	return true, nil
}

// hold remembers t if it is newer than the ticket held.
func (s *PushedTickets) hold(t core.Token) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t.IssuedAt.After(s.held.IssuedAt) {
		s.held = t
	}
}

// live returns the held ticket if it is still valid at now.
func (s *PushedTickets) live(now time.Time) (core.Token, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.held, s.held.Value != "" && s.held.Valid(now)
}

func (s *PushedTickets) read(ctx context.Context) (core.Token, error) {
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
