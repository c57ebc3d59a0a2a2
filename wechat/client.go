package wechat

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/wxtoken/wxtoken/core"
)

// Default upstream hosts.
const (
	WeChatBaseURL = "https://api.weixin.qq.com"
	WeComBaseURL  = "https://qyapi.weixin.qq.com"
)

// DefaultTimeout bounds one upstream request when no http.Client is given.
// It stays under the default lock TTL (core.DefaultSettings().LockTTL), so a fetch ends before its lock does.
const DefaultTimeout = 10 * time.Second

// maxResponseBytes bounds what is read of an upstream answer.
const maxResponseBytes = 1 << 20

// Option configures a Source.
type Option func(*client)

// WithBaseURL points a Source at another host, such as a wxsim server or a
// proxy: "http://127.0.0.1:8081". The path of each endpoint is appended.
func WithBaseURL(u string) Option {
	return func(c *client) { c.base = strings.TrimRight(u, "/") }
}

// WithHTTPClient sets the http.Client used for upstream calls. Its Timeout
// should stay under the Manager's lock TTL. Its CheckRedirect is replaced:
// a redirect is never followed (see newClient).
func WithHTTPClient(hc *http.Client) Option {
	return func(c *client) { c.hc = hc }
}

// client makes upstream calls. secrets are blanked out of every error it
// returns.
type client struct {
	base    string
	hc      *http.Client
	secrets []string
}

func newClient(defaultBase string, opts []Option, secrets ...string) client {
	c := client{base: defaultBase, hc: &http.Client{Timeout: DefaultTimeout}}
	for _, o := range opts {
		o(&c)
	}
	// A redirect would re-send the request, secret included (in the query,
	// or in the body of a 307/308 POST), to another host: never follow
	// one. The 3xx answer comes back as an HTTPError, not retried.
	hc := *c.hc
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c.hc = &hc
	for _, s := range secrets {
		if s != "" {
			c.secrets = append(c.secrets, s)
		}
	}
	return c
}

// call sends one request and decodes a credential from the answer: the
// string in field and its expires_in, counted from now() before the
// request (nil: time.Now). body, when not nil, is sent as JSON.
func (c client) call(ctx context.Context, now func() time.Time, method, path string, q url.Values, body any, field string) (core.Token, error) {
	tok, _, err := c.callCredential(ctx, now, method, path, q, body, field)
	return tok, err
}

// callCredential is call that also returns the raw answer, for a Source
// that reads more than the credential from it (a rotated refresh token).
func (c client) callCredential(ctx context.Context, now func() time.Time, method, path string, q url.Values, body any, field string) (core.Token, []byte, error) {
	if now == nil {
		now = time.Now
	}
	start := now()
	raw, err := c.roundTrip(ctx, method, path, q, body)
	if err != nil {
		return core.Token{}, nil, err
	}
	value, expiresIn, err := decodeCredential(raw, field)
	if err != nil {
		var ae *APIError
		if errors.As(err, &ae) {
			ae.Endpoint, ae.Msg = path, c.redact(ae.Msg)
			return core.Token{}, nil, ae
		}
		return core.Token{}, nil, fmt.Errorf("wechat: %s: %w", path, err)
	}
	// Count the lifetime from before the request was sent: never later
	// than upstream's own clock.
	return core.Token{Value: value, ExpiresAt: start.Add(expiresIn), IssuedAt: start}, raw, nil
}

// probePath is the endpoint Verify asks: it exists on WeChat and WeCom
// alike, takes only an access_token, and spends none of the token quota
// (its own is about 1000 calls a day, of which the Manager uses at most
// half).
const probePath = "/cgi-bin/get_api_domain_ip"

// verify asks upstream whether it accepts token: true for a normal answer,
// false for an errcode that says the token is invalid or expired, and an
// error for anything else (upstream could not tell).
func (c client) verify(ctx context.Context, token string) (bool, error) {
	return c.verifyAt(ctx, http.MethodGet, probePath, url.Values{"access_token": {token}}, nil)
}

// verifyAt asks path whether the token the query carries is alive: an
// answer without an errcode, or 0, says yes; a token errcode says no;
// anything else is an error. The answer's body is read for its errcode
// only.
func (c client) verifyAt(ctx context.Context, method, path string, q url.Values, body any) (bool, error) {
	raw, err := c.roundTrip(ctx, method, path, q, body)
	if err != nil {
		return false, err
	}
	var e envelope
	if err := json.Unmarshal(raw, &e); err != nil {
		return false, fmt.Errorf("wechat: %s: malformed answer: %w", path, err)
	}
	if e.Errcode == nil || *e.Errcode == 0 {
		return true, nil
	}
	ae := &APIError{Endpoint: path, Code: *e.Errcode, Msg: c.redact(e.Errmsg)}
	if IsTokenError(ae) {
		return false, nil
	}
	return false, ae
}

func (c client) roundTrip(ctx context.Context, method, path string, q url.Values, body any) ([]byte, error) {
	u := c.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("wechat: %s: encoding the request: %w", path, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		// The URL may hold a secret: report only the path.
		return nil, fmt.Errorf("wechat: %s: bad base URL %q", path, c.base)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		var t interface{ Timeout() bool }
		timedOut := errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &t) && t.Timeout())
		var cert *tls.CertificateVerificationError
		certificate := errors.As(err, &cert)
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // url.Error prints the URL, query and secret included
		}
		return nil, &TransportError{Endpoint: path, Err: errors.New(c.redact(err.Error())), TimedOut: timedOut, Certificate: certificate}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return nil, &TransportError{Endpoint: path, Err: errors.New(c.redact(err.Error()))}
	}
	if resp.StatusCode != http.StatusOK {
		return nil, &HTTPError{Endpoint: path, Status: resp.StatusCode}
	}
	return raw, nil
}

func (c client) redact(s string) string {
	for _, sec := range c.secrets {
		s = strings.ReplaceAll(s, sec, "***")
	}
	return s
}

// callJSON sends one request and decodes a success answer into out; an
// errcode becomes an *APIError naming path, with secrets blanked.
func (c client) callJSON(ctx context.Context, method, path string, q url.Values, body, out any) error {
	raw, err := c.roundTrip(ctx, method, path, q, body)
	if err != nil {
		return err
	}
	var e envelope
	if err := json.Unmarshal(raw, &e); err != nil {
		return fmt.Errorf("wechat: %s: malformed answer: %w", path, err)
	}
	if e.Errcode != nil && *e.Errcode != 0 {
		return &APIError{Endpoint: path, Code: *e.Errcode, Msg: c.redact(e.Errmsg)}
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("wechat: %s: malformed answer: %w", path, err)
	}
	return nil
}
