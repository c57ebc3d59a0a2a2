package wxsim

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/wxtoken/wxtoken/wechat/callback"
)

// Callback is where the simulator pushes a WeCom suite's instruction
// callbacks or an Open Platform component's notices, sealed as upstream
// seals them (see package callback): the URL, and the Token and
// EncodingAESKey configured for it on the console.
type Callback struct {
	URL            string
	Token          string
	EncodingAESKey string
	// Client sends the pushes; http.DefaultClient when nil.
	Client *http.Client
}

// pusher is a configured callback with its crypto.
type pusher struct {
	cb     Callback
	crypto *callback.Crypto
}

func newPusher(cb Callback, receiver string) (*pusher, error) {
	c, err := callback.New(cb.Token, cb.EncodingAESKey, receiver)
	if err != nil {
		return nil, err
	}
	if cb.Client == nil {
		cb.Client = http.DefaultClient
	}
	return &pusher{cb: cb, crypto: c}, nil
}

// What the simulator pushes for: a WeCom suite or an Open Platform
// component, with the exported setter of its callback.
type pushKind struct{ name, setter string }

var (
	pushSuite     = pushKind{"suite", "SetSuiteCallback"}
	pushComponent = pushKind{"component", "SetComponentCallback"}
)

// pushSlot returns where the pusher of kind's id lives, or an error if
// there is no such suite or component. Callers hold s.mu.
func (s *Sim) pushSlot(kind pushKind, id string) (**pusher, error) {
	switch kind {
	case pushSuite:
		if st := s.suites[id]; st != nil {
			return &st.push, nil
		}
	case pushComponent:
		if c := s.components[id]; c != nil {
			return &c.push, nil
		}
	}
	return nil, fmt.Errorf("wxsim: no %s %q", kind.name, id)
}

// setCallback makes the simulator push kind's id's callbacks to cb,
// sealed for id.
func (s *Sim) setCallback(kind pushKind, id string, cb Callback) error {
	p, err := newPusher(cb, id)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	slot, err := s.pushSlot(kind, id)
	if err != nil {
		return err
	}
	*slot = p
	return nil
}

// pusherOf returns the pusher of kind's id, or an error naming what is
// missing.
func (s *Sim) pusherOf(kind pushKind, id string) (*pusher, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	slot, err := s.pushSlot(kind, id)
	if err != nil {
		return nil, err
	}
	if *slot == nil {
		return nil, fmt.Errorf("wxsim: %s %q has no callback (%s)", kind.name, id, kind.setter)
	}
	return *slot, nil
}

// push seals e and POSTs it; the receiver must answer 200 "success", as
// WeCom and the Open Platform require (they retry otherwise).
func (p *pusher) push(ctx context.Context, e callback.Event, now time.Time) error {
	msg, err := e.Marshal()
	if err != nil {
		return err
	}
	body, q, err := p.crypto.Seal(msg, now, strconv.FormatInt(now.UnixNano()%1e9, 10))
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.cb.URL+"?"+q.Encode(), bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "text/xml")
	resp, err := p.cb.Client.Do(req)
	if err != nil {
		return fmt.Errorf("wxsim: pushing %s: %w", e.InfoType, err)
	}
	defer resp.Body.Close()
	reply, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK || string(bytes.TrimSpace(reply)) != "success" {
		return fmt.Errorf("wxsim: pushing %s: the receiver answered %d %q, want 200 \"success\"", e.InfoType, resp.StatusCode, reply)
	}
	return nil
}

// PushTickets pushes a fresh suite_ticket to every suite and a
// component_verify_ticket to every component that has a callback, once,
// and returns the failures joined.
func (s *Sim) PushTickets(ctx context.Context) error {
	s.mu.Lock()
	var suites, comps []string
	for id, st := range s.suites {
		if st.push != nil {
			suites = append(suites, id)
		}
	}
	for id, c := range s.components {
		if c.push != nil {
			comps = append(comps, id)
		}
	}
	s.mu.Unlock()
	var errs []error
	for _, id := range suites {
		if _, err := s.DeliverSuiteTicket(ctx, id); err != nil {
			errs = append(errs, err)
		}
	}
	for _, id := range comps {
		if _, err := s.DeliverComponentTicket(ctx, id); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// RunPushes calls PushTickets now and then every interval (upstream: 10
// minutes) until ctx ends. A failed round is reported to onError (if set);
// the next round pushes again.
func (s *Sim) RunPushes(ctx context.Context, every time.Duration, onError func(error)) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if err := s.PushTickets(ctx); err != nil && onError != nil && ctx.Err() == nil {
			onError(err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
