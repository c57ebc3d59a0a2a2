// Package client lets Go programs take their tokens from a running
// `wxtoken serve` instead of from WeChat: Source is a core.Source that
// reads GET /v1/token/{app} and reports rejected tokens to
// POST /v1/token/{app}/invalidate.
//
//	m := core.New()
//	m.Register("shop", client.Source("https://wxtoken.internal:8443", "shop", os.Getenv("WXTOKEN_KEY")))
//	hc := &http.Client{Transport: &wechat.Transport{Tokens: m, Key: "shop"}}
//
// The Manager keeps the token in memory for at most MaxAge (a minute by
// default, as WeChat's docs suggest for workers of a central server), so a
// token the server replaced is dropped soon even without a refusal.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/wxtoken/wxtoken/core"
	"github.com/wxtoken/wxtoken/wechat"
)

// DefaultMaxAge is how long a token from the server is kept by default.
const DefaultMaxAge = time.Minute

// Option configures a RemoteSource.
type Option func(*RemoteSource)

// WithHTTPClient sets the client for calls to the server. Its
// CheckRedirect is replaced: a redirect is never followed, so the client
// key goes to the server named and nowhere else.
func WithHTTPClient(hc *http.Client) Option { return func(s *RemoteSource) { s.hc = hc } }

// WithMaxAge sets how long a fetched token is kept before asking the server
// again; the token reports this as its expiry when it comes sooner than
// upstream's.
func WithMaxAge(d time.Duration) Option { return func(s *RemoteSource) { s.maxAge = d } }

// RemoteSource fetches one app's token from a wxtoken server.
type RemoteSource struct {
	base   string
	app    string
	key    string
	hc     *http.Client
	maxAge time.Duration
}

// Source returns a core.Source for app on the server at baseURL,
// authenticating with the client key.
func Source(baseURL, app, key string, opts ...Option) *RemoteSource {
	s := &RemoteSource{base: strings.TrimRight(baseURL, "/"), app: app, key: key,
		hc: &http.Client{Timeout: 15 * time.Second}, maxAge: DefaultMaxAge}
	for _, o := range opts {
		o(s)
	}
	// A redirect would send the request, Authorization included when the
	// next hop is on the same host or a subdomain, wherever the Location
	// header says: never follow one. The 3xx comes back as an Error.
	hc := *s.hc
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	s.hc = &hc
	return s
}

// Identity implements core.Identified: "remote:" + app.
func (s *RemoteSource) Identity() string { return "remote:" + s.app }

// Error is a refusal from the server itself (no key, unknown app, no
// usable token). An upstream refusal comes back as *wechat.APIError.
type Error struct {
	Status  int
	Errcode int
	Errmsg  string
}

func (e *Error) Error() string {
	return fmt.Sprintf("wxtoken server: HTTP %d: errcode %d: %s", e.Status, e.Errcode, e.Errmsg)
}

// Transient reports whether asking again soon may help (503).
func (e *Error) Transient() bool {
	return e.Status == http.StatusServiceUnavailable || e.Status >= 500 && e.Status != 502
}

// Fetch implements core.Source: a passive refresh when req.Rejected is set,
// a plain read otherwise.
func (s *RemoteSource) Fetch(ctx context.Context, req core.FetchRequest) (core.Token, error) {
	path := s.base + "/v1/token/" + url.PathEscape(s.app)
	method, body := http.MethodGet, io.Reader(nil)
	if req.Rejected != "" {
		b, _ := json.Marshal(map[string]string{"access_token": req.Rejected})
		method, path, body = http.MethodPost, path+"/invalidate", bytes.NewReader(b)
	}
	hr, err := http.NewRequestWithContext(ctx, method, path, body)
	if err != nil {
		return core.Token{}, err
	}
	hr.Header.Set("Authorization", "Bearer "+s.key)
	if body != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	resp, err := s.hc.Do(hr)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return core.Token{}, fmt.Errorf("wxtoken server %s: %w", s.base, err)
	}
	defer resp.Body.Close()
	var out struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
		Errcode     int    `json:"errcode"`
		Errmsg      string `json:"errmsg"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&out); err != nil {
		return core.Token{}, &Error{Status: resp.StatusCode, Errmsg: "undecodable answer: " + err.Error()}
	}
	switch {
	case resp.StatusCode == http.StatusBadGateway:
		return core.Token{}, &wechat.APIError{Endpoint: "wxtoken " + s.app, Code: out.Errcode, Msg: out.Errmsg}
	case resp.StatusCode != http.StatusOK:
		return core.Token{}, &Error{Status: resp.StatusCode, Errcode: out.Errcode, Errmsg: out.Errmsg}
	case out.AccessToken == "" || out.ExpiresIn <= 0:
		return core.Token{}, &Error{Status: resp.StatusCode, Errmsg: "answer without a usable token"}
	}
	now := time.Now()
	exp := now.Add(time.Duration(out.ExpiresIn) * time.Second)
	if s.maxAge > 0 && exp.After(now.Add(s.maxAge)) {
		exp = now.Add(s.maxAge)
	}
	return core.Token{Value: out.AccessToken, IssuedAt: now, ExpiresAt: exp}, nil
}
