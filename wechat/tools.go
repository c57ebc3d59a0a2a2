package wechat

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// Errcodes of upstream's account tools.
const (
	CodeClearLimit      = 48006 // clear_quota used its 10 times this month
	CodeRidNotFound     = 76001 // no such rid for this account, or older than 7 days
	CodeRidMalformed    = 76002 // the rid is empty or not a rid
	CodeCgiPathNotFound = 76021 // quota/get: no such API
	CodeCgiPathRefused  = 76022 // quota/get: an API it cannot tell (the /sns/ ones)
)

// Tools calls upstream's account tools on the WeChat side (official
// accounts, mini programs, the Open Platform): the day's quota of one API,
// the explanation of a failed call's rid, and clear_quota. Each call takes
// the token of the account it is about: the account's own access_token,
// an authorizer's token (a platform acting for an authorized account), or
// the component's token for the platform itself. WeCom offers none of
// these.
type Tools struct{ c client }

// NewTools returns Tools for api.weixin.qq.com, or the host WithBaseURL
// names.
func NewTools(opts ...Option) *Tools { return &Tools{c: newClient(WeChatBaseURL, opts)} }

// with returns the client with token blanked out of its errors.
func (t *Tools) with(token string) client {
	c := t.c
	c.secrets = append([]string(nil), c.secrets...)
	if token != "" {
		c.secrets = append(c.secrets, token, url.QueryEscape(token))
	}
	return c
}

// WithRedacted names secrets (an app secret, a permanent code) to blank
// wherever they appear in what a Source or Tools return, plain or
// URL-encoded: for Tools.Rid, whose record of a failed call may hold them
// in shapes no field name gives away.
func WithRedacted(secrets ...string) Option {
	return func(c *client) {
		for _, s := range secrets {
			if s != "" {
				c.secrets = append(c.secrets, s, url.QueryEscape(s))
			}
		}
	}
}

// Quota is upstream's count of one API for one account today (Beijing).
type Quota struct {
	DailyLimit int64 `json:"daily_limit"`
	Used       int64 `json:"used"`
	Remain     int64 `json:"remain"`
}

// Quota asks upstream for the account's quota of the API at cgiPath, such
// as "/cgi-bin/token" or "/cgi-bin/message/custom/send" (no host). Paths
// under /sns/ are refused upstream (CodeCgiPathRefused).
func (t *Tools) Quota(ctx context.Context, token, cgiPath string) (Quota, error) {
	if !strings.HasPrefix(cgiPath, "/") {
		return Quota{}, fmt.Errorf("wechat: quota: cgi_path %q must be a path such as /cgi-bin/token", cgiPath)
	}
	var out struct {
		Quota Quota `json:"quota"`
	}
	err := t.with(token).callJSON(ctx, http.MethodPost, "/cgi-bin/openapi/quota/get",
		url.Values{"access_token": {token}}, map[string]string{"cgi_path": cgiPath}, &out)
	return out.Quota, err
}

// RidInfo is what upstream kept of a failed call, found by the rid its
// errmsg ended with. Every token, secret and ticket in it is blanked: a
// failed /cgi-bin/token call's request_url holds the app secret.
type RidInfo struct {
	InvokeTime   time.Time
	Cost         time.Duration
	RequestURL   string
	RequestBody  string
	ResponseBody string
	ClientIP     string
}

// secretName matches a parameter, field or element name that says it
// holds a secret: a secret, token, ticket, code, key, password or AES key.
const secretName = `[A-Za-z0-9_]*(?i:secret|token|ticket|code|key|password|aes)[A-Za-z0-9_]*`

var (
	secretInQuery = regexp.MustCompile(`((?:^|[?&;])` + secretName + `=)[^&;#\s"]*`)
	secretInJSON  = regexp.MustCompile(`("` + secretName + `"\s*:\s*)"(?:[^"\\]|\\.)*"`)
	secretInXML   = regexp.MustCompile(`(<(` + secretName + `)>)(?s:.*?)(</` + secretName + `>)`)
	// A value that is itself escaped JSON: {"data":"{\"secret\":\"S\"}"}.
	secretInEscapedJSON = regexp.MustCompile(`(\\"` + secretName + `\\"\s*:\s*)\\"(?:[^\\]|\\[^"])*\\"`)
)

// blankSecrets blanks the values of query parameters, JSON fields and XML
// elements whose names say they hold a secret, a token, a ticket, a code
// or a key, and then every literal secret the Tools were told of (the
// token it was called with, and WithRedacted's).
func (c client) blankSecrets(s string) string {
	s = secretInQuery.ReplaceAllString(s, "${1}***")
	s = secretInJSON.ReplaceAllString(s, `${1}"***"`)
	s = secretInEscapedJSON.ReplaceAllString(s, `${1}\"***\"`)
	s = secretInXML.ReplaceAllString(s, "${1}***${3}")
	return c.redact(s)
}

// Rid asks upstream what happened in the failed call whose errmsg ended
// with "rid: RID". Only the account that made the call can ask, for 7
// days (CodeRidNotFound after).
func (t *Tools) Rid(ctx context.Context, token, rid string) (RidInfo, error) {
	rid = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(rid), "rid:"))
	var out struct {
		Request struct {
			InvokeTime   int64  `json:"invoke_time"`
			CostInMs     int64  `json:"cost_in_ms"`
			RequestURL   string `json:"request_url"`
			RequestBody  string `json:"request_body"`
			ResponseBody string `json:"response_body"`
			ClientIP     string `json:"client_ip"`
		} `json:"request"`
	}
	if err := t.with(token).callJSON(ctx, http.MethodPost, "/cgi-bin/openapi/rid/get",
		url.Values{"access_token": {token}}, map[string]string{"rid": rid}, &out); err != nil {
		return RidInfo{}, err
	}
	r, c := out.Request, t.with(token)
	return RidInfo{InvokeTime: time.Unix(r.InvokeTime, 0), Cost: time.Duration(r.CostInMs) * time.Millisecond,
		RequestURL: c.blankSecrets(r.RequestURL), RequestBody: c.blankSecrets(r.RequestBody),
		ResponseBody: c.blankSecrets(r.ResponseBody), ClientIP: r.ClientIP}, nil
}

// ClearQuota resets the day's API counts of the account appID, with that
// account's token (or an authorizer token for it). Upstream allows it 10
// times a calendar month (CodeClearLimit after); every use counts, so it
// is an operator's decision, never a retry.
func (t *Tools) ClearQuota(ctx context.Context, token, appID string) error {
	return t.with(token).callJSON(ctx, http.MethodPost, "/cgi-bin/clear_quota",
		url.Values{"access_token": {token}}, map[string]string{"appid": appID}, &struct{}{})
}

// ClearComponentQuota resets the Open Platform component's own day's API
// counts, with its component_access_token; the same monthly limit applies.
func (t *Tools) ClearComponentQuota(ctx context.Context, componentToken, componentAppID string) error {
	return t.with(componentToken).callJSON(ctx, http.MethodPost, "/cgi-bin/component/clear_quota",
		url.Values{"component_access_token": {componentToken}}, map[string]string{"component_appid": componentAppID}, &struct{}{})
}
