package wechat

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
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
}

// RoundTrip implements http.RoundTripper. A request with a body is retried
// only if it can be replayed (GetBody is set, as http.NewRequest does for
// in-memory bodies).
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
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
