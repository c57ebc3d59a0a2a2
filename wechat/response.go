package wechat

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/wxtoken/wxtoken/core"
)

// Bounds on what an upstream credential may look like. WeChat promises at
// most 512 characters today; anything far beyond that, or a lifetime of
// more than a day, is a garbled answer, not a token to cache.
const (
	maxCredentialLen = 4096
	maxLifetime      = 24 * time.Hour
)

// envelope holds every field a credential endpoint may answer with.
type envelope struct {
	Errcode   *int   `json:"errcode"`
	Errmsg    string `json:"errmsg"`
	ExpiresIn *int64 `json:"expires_in"`

	AccessToken         string `json:"access_token"`
	Ticket              string `json:"ticket"`
	ProviderAccessToken string `json:"provider_access_token"`
	SuiteAccessToken    string `json:"suite_access_token"`
	ComponentToken      string `json:"component_access_token"`
	AuthorizerToken     string `json:"authorizer_access_token"`
}

func (e *envelope) field(name string) (string, bool) {
	switch name {
	case "access_token":
		return e.AccessToken, true
	case "ticket":
		return e.Ticket, true
	case "provider_access_token":
		return e.ProviderAccessToken, true
	case "suite_access_token":
		return e.SuiteAccessToken, true
	case "component_access_token":
		return e.ComponentToken, true
	case "authorizer_access_token":
		return e.AuthorizerToken, true
	}
	return "", false
}

// decodeCredential reads an upstream answer. A non-zero errcode becomes an
// *APIError (with no Endpoint yet); a success must carry a non-empty
// credential in field and a positive expires_in, or it is refused: an error
// answer is never cached as a token. Success answers may omit errcode.
func decodeCredential(body []byte, field string) (string, time.Duration, error) {
	var e envelope
	if err := json.Unmarshal(body, &e); err != nil {
		return "", 0, fmt.Errorf("malformed answer: %w", err)
	}
	if e.Errcode != nil && *e.Errcode != 0 {
		return "", 0, &APIError{Code: *e.Errcode, Msg: e.Errmsg}
	}
	value, ok := e.field(field)
	if !ok {
		return "", 0, fmt.Errorf("unknown credential field %q", field)
	}
	life, err := checkCredential(field, value, e.ExpiresIn)
	return value, life, err
}

// checkCredential holds a credential and its expires_in (nil: absent) to
// the bounds above, and returns its lifetime.
func checkCredential(field, value string, expiresIn *int64) (time.Duration, error) {
	if value == "" {
		return 0, fmt.Errorf("answer has no %s", field)
	}
	if len(value) > maxCredentialLen {
		return 0, fmt.Errorf("%s is %d bytes long", field, len(value))
	}
	if expiresIn == nil || *expiresIn <= 0 || *expiresIn > int64(maxLifetime/time.Second) {
		return 0, fmt.Errorf("answer has no usable expires_in")
	}
	return time.Duration(*expiresIn) * time.Second, nil
}

// grantedToken is the token an answer carries beside what was asked for
// (api_query_auth's, get_permanent_code's), counted from start; the zero
// Token when it is absent or out of bounds.
func grantedToken(field, value string, expiresIn int64, start time.Time) core.Token {
	life, err := checkCredential(field, value, &expiresIn)
	if err != nil {
		return core.Token{}
	}
	return core.Token{Value: value, IssuedAt: start, ExpiresAt: start.Add(life)}
}
