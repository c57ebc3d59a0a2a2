// Package silenceper makes github.com/silenceper/wechat/v2 take its
// tokens from wxtoken: a fleet of SDK instances then calls upstream once
// per token lifetime, and a 40001 anywhere repairs the token for all of
// them with one upstream call, instead of every instance refreshing on its
// own and invalidating the others' tokens.
//
// The SDK's race is in its token logic (each instance fetches a new token
// when its cache says so, and the new one retires the token the other
// instances hold), not in its cache, so wxtoken replaces the SDK's access
// token handle, not its cache:
//
//	m := core.New(core.WithCache(redisbackend.New(rdb)))          // or core.Default() after core.SetCache
//	m.Register("shop", wechat.OfficialAccount(appID, secret))
//	oa.SetAccessTokenHandle(silenceper.New(m, "shop"))           // oa from wc.GetOfficialAccount(cfg)
//
// The same handle serves a mini program (SetAccessTokenContextHandle) and a
// WeCom app, whose SDK value has no setter: set
// work.GetContext().AccessTokenHandle instead. A remote `wxtoken serve`
// works the same way: register client.Source under the key.
//
// The SDK's jsapi_ticket can be swapped too (js.SetJsTicketHandle, on the
// value GetJs returns): NewTicket serves the ticket wxtoken keeps. Its
// WeCom JS-SDK tickets (work.JsSdk) are fetched by the SDK with no such
// hook; take them from wxtoken directly (wechat.WeComJSAPITicket,
// wechat.WeComAgentTicket, or the server's /v1/ticket route).
//
// The SDK returns upstream's errcode as *util.CommonError. Wrap a business
// call in Handle.Do: on 40001, 40014, 41001 or 42001 it reports the token
// to wxtoken (compare-and-refresh: one upstream call for the fleet, none
// if another node already replaced it) and calls once more.
package silenceper

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/silenceper/wechat/v2/credential"
	"github.com/silenceper/wechat/v2/util"

	"github.com/wxtoken/wxtoken/core"
)

// DefaultTimeout bounds GetAccessToken and GetTicket, which the SDK calls
// without a context.
const DefaultTimeout = 30 * time.Second

// Handle is the SDK's access token handle (credential.AccessTokenHandle
// and AccessTokenContextHandle) over the token wxtoken keeps under a key.
type Handle struct {
	tokens  core.Tokens
	key     string
	timeout time.Duration
	last    atomic.Pointer[string] // the token handed out last, for Do's report
}

var (
	_ credential.AccessTokenContextHandle = (*Handle)(nil)
	_ credential.JsTicketContextHandle    = (*Ticket)(nil)
)

// New returns the handle of key in tokens (a core.Manager, or anything
// else with Token and Invalidate).
func New(tokens core.Tokens, key string) *Handle {
	return &Handle{tokens: tokens, key: key, timeout: DefaultTimeout}
}

// GetAccessToken implements credential.AccessTokenHandle, within
// DefaultTimeout.
func (h *Handle) GetAccessToken() (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), h.timeout)
	defer cancel()
	return h.GetAccessTokenContext(ctx)
}

// GetAccessTokenContext implements credential.AccessTokenContextHandle.
func (h *Handle) GetAccessTokenContext(ctx context.Context) (string, error) {
	tok, err := h.tokens.Token(ctx, h.key)
	if err != nil {
		return "", err
	}
	h.last.Store(&tok.Value)
	return tok.Value, nil
}

// Report tells wxtoken that a business call made with the token this
// handle last handed out was refused with err. It returns true when err is
// a token error (40001, 40014, 41001, 42001), after the fleet's token is
// repaired; the caller then calls once more. Other errors return false at
// once.
func (h *Handle) Report(ctx context.Context, err error) (bool, error) {
	if !IsTokenError(err) {
		return false, nil
	}
	last := h.last.Load()
	if last == nil {
		return true, nil
	}
	_, ierr := h.tokens.Invalidate(ctx, h.key, *last)
	return true, ierr
}

// Do runs call, a business call through the SDK, and when it fails with a
// token error reports it (Report) and runs it once more.
func (h *Handle) Do(ctx context.Context, call func() error) error {
	err := call()
	retry, rerr := h.Report(ctx, err)
	if !retry {
		return err
	}
	if rerr != nil {
		return errors.Join(err, rerr)
	}
	return call()
}

// IsTokenError reports whether err is the SDK's *util.CommonError with an
// errcode saying the access token was bad: 40001, 40014, 41001, 42001.
func IsTokenError(err error) bool {
	var ce *util.CommonError
	if !errors.As(err, &ce) {
		return false
	}
	switch ce.ErrCode {
	case 40001, 40014, 41001, 42001:
		return true
	}
	return false
}

// Ticket is the SDK's jsapi_ticket handle (credential.JsTicketHandle and
// JsTicketContextHandle) over the ticket wxtoken keeps under a key (a
// wechat.JSAPITicket registered next to the account's token).
type Ticket struct {
	tokens  core.Tokens
	key     string
	timeout time.Duration
}

// NewTicket returns the ticket handle of key in tokens.
func NewTicket(tokens core.Tokens, key string) *Ticket {
	return &Ticket{tokens: tokens, key: key, timeout: DefaultTimeout}
}

// GetTicket implements credential.JsTicketHandle. The access token the SDK
// passes is not needed: wxtoken's ticket follows its own token.
func (t *Ticket) GetTicket(_ string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), t.timeout)
	defer cancel()
	return t.GetTicketContext(ctx, "")
}

// GetTicketContext implements credential.JsTicketContextHandle.
func (t *Ticket) GetTicketContext(ctx context.Context, _ string) (string, error) {
	tok, err := t.tokens.Token(ctx, t.key)
	if err != nil {
		return "", err
	}
	return tok.Value, nil
}
