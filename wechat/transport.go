package wechat

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/wxtoken/wxtoken/core"
)

// maxInspectBytes bounds the answers Transport buffers to look for an
// errcode; larger answers (media downloads) pass through untouched.
const maxInspectBytes = 1 << 20

// Transport is an http.RoundTripper for WeChat and WeCom business APIs: it
// sets the access_token query parameter from Tokens, and when upstream
// answers 40001, 40014 or 42001 it reports the token with Invalidate (one
// upstream refresh for the whole fleet) and sends the request once more
// with the new token.
//
// The token goes only to Hosts, and never along a redirect: a request to
// another host, or a hop an http.Client makes after a redirect (which
// would carry the token wherever the Location header points), fails with
// ErrForeignHost before anything is sent.
//
//	hc := &http.Client{Transport: &wechat.Transport{Tokens: m, Key: "shop"}}
//	resp, err := hc.Post("https://api.weixin.qq.com/cgi-bin/message/custom/send", "application/json", body)
type Transport struct {
	// Tokens gives the token: a core.Manager, with any Source (including
	// client.Source, which reads from a remote wxtoken serve).
	Tokens core.Tokens
	// Key is the key the account is registered under.
	Key string
	// Base sends the requests; nil means http.DefaultTransport.
	Base http.RoundTripper
	// Hosts are the hosts (host or host:port, as in a URL) the token may
	// be sent to; nil means DefaultHosts. A simulator or a proxy in front
	// of upstream is named here.
	Hosts []string
}

// DefaultHosts are WeChat's and WeCom's API hosts, those Transport sends a
// token to, over https only, when its Hosts is nil.
var DefaultHosts = []string{
	"api.weixin.qq.com", "api2.weixin.qq.com",
	"sh.api.weixin.qq.com", "sz.api.weixin.qq.com", "hk.api.weixin.qq.com",
	"qyapi.weixin.qq.com",
}

// ErrForeignHost is returned by Transport for a request it will not add
// the token to: one to a host not in its Hosts, or a redirect's next hop.
var ErrForeignHost = errors.New("wechat: Transport sends the access token only to the configured upstream hosts and never along a redirect")

// allowed reports whether req may carry the token.
func (t *Transport) allowed(req *http.Request) error {
	if req.Response != nil {
		return fmt.Errorf("%w: upstream answered %d with a redirect to %s", ErrForeignHost, req.Response.StatusCode, req.URL.Host)
	}
	hosts := t.Hosts
	if hosts == nil {
		hosts = DefaultHosts
		if req.URL.Scheme != "https" {
			return fmt.Errorf("%w: %s is not https", ErrForeignHost, req.URL.Redacted())
		}
	}
	host := req.URL.Host
	if port := req.URL.Port(); req.URL.Scheme == "https" && port == "443" || req.URL.Scheme == "http" && port == "80" {
		host = req.URL.Hostname() // the default port, written out
	}
	if !slices.Contains(hosts, host) {
		return fmt.Errorf("%w: %s is not one of them", ErrForeignHost, host)
	}
	return nil
}

// RoundTrip implements http.RoundTripper. A request not allowed the token
// fails with ErrForeignHost. A request with a body is retried
// only if it can be replayed (GetBody is set, as http.NewRequest does for
// in-memory bodies).
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := t.allowed(req); err != nil {
		closeBody(req)
		return nil, err
	}
	tok, err := t.Tokens.Token(req.Context(), t.Key)
	if err != nil {
		closeBody(req)
		return nil, err
	}
	resp, err := t.send(req, tok.Value, req.Body)
	if err != nil || !isTokenAnswer(resp) {
		return resp, err
	}
	if req.Body != nil && req.GetBody == nil {
		return resp, nil // cannot replay the body: hand the refusal to the caller
	}
	fresh, err := t.Tokens.Invalidate(req.Context(), t.Key, tok.Value)
	if err != nil {
		return resp, nil // the caller sees upstream's answer
	}
	var body io.ReadCloser
	if req.GetBody != nil {
		if body, err = req.GetBody(); err != nil {
			return resp, nil
		}
	}
	resp.Body.Close()
	return t.send(req, fresh.Value, body)
}

func (t *Transport) send(req *http.Request, token string, body io.ReadCloser) (*http.Response, error) {
	r := req.Clone(req.Context())
	r.Body = body
	q := r.URL.Query()
	q.Set("access_token", token)
	r.URL.RawQuery = q.Encode()
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	return base.RoundTrip(r)
}

// isTokenAnswer reports whether resp is a JSON errcode saying the token was
// bad. It buffers a small JSON answer and puts it back for the caller.
func isTokenAnswer(resp *http.Response) bool {
	ct := resp.Header.Get("Content-Type")
	if resp.ContentLength > maxInspectBytes || !(strings.Contains(ct, "json") || strings.HasPrefix(ct, "text/plain")) {
		return false
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxInspectBytes+1))
	rest := resp.Body
	resp.Body = readCloser{io.MultiReader(bytes.NewReader(raw), rest), rest}
	if err != nil || len(raw) > maxInspectBytes {
		return false
	}
	var e struct {
		Errcode int `json:"errcode"`
	}
	if json.Unmarshal(raw, &e) != nil {
		return false
	}
	return IsTokenError(&APIError{Code: e.Errcode})
}

type readCloser struct {
	io.Reader
	io.Closer
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}
