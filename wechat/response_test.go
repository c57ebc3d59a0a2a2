package wechat

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestDecodeCredential(t *testing.T) {
	cases := []struct {
		body, field string
		value       string
		life        time.Duration
		code        int
		bad         bool
	}{
		{body: `{"access_token":"AT","expires_in":7200}`, field: "access_token", value: "AT", life: 7200 * time.Second},
		{body: `{"errcode":0,"errmsg":"ok","ticket":"TK","expires_in":7200}`, field: "ticket", value: "TK", life: 7200 * time.Second},
		{body: `{"suite_access_token":"S","expires_in":300}`, field: "suite_access_token", value: "S", life: 300 * time.Second},
		{body: `{"errcode":40125,"errmsg":"invalid appsecret rid: 1"}`, field: "access_token", code: 40125},
		{body: `{"errcode":-1,"errmsg":"system error"}`, field: "access_token", code: -1},
		{body: `{"access_token":"","expires_in":7200}`, field: "access_token", bad: true},
		{body: `{"access_token":"AT"}`, field: "access_token", bad: true},
		{body: `{"access_token":"AT","expires_in":0}`, field: "access_token", bad: true},
		{body: `{"access_token":"AT","expires_in":99999999}`, field: "access_token", bad: true},
		{body: `{"ticket":"TK","expires_in":7200}`, field: "access_token", bad: true},
		{body: `<html>502 Bad Gateway</html>`, field: "access_token", bad: true},
		{body: `{"access_token":"` + strings.Repeat("x", 5000) + `","expires_in":7200}`, field: "access_token", bad: true},
	}
	for _, c := range cases {
		v, life, err := decodeCredential([]byte(c.body), c.field)
		var ae *APIError
		switch {
		case c.code != 0:
			if !errors.As(err, &ae) || ae.Code != c.code {
				t.Errorf("%.50s: err %v, want errcode %d", c.body, err, c.code)
			}
		case c.bad:
			if err == nil {
				t.Errorf("%.50s: accepted %q as a credential", c.body, v)
			}
		default:
			if err != nil || v != c.value || life != c.life {
				t.Errorf("%.50s: %q %v %v", c.body, v, life, err)
			}
		}
	}
}

// FuzzDecodeCredential: an upstream answer yields a credential with a sane
// lifetime, an APIError, or an error; never a panic, never an empty token.
func FuzzDecodeCredential(f *testing.F) {
	for _, s := range []string{
		`{"access_token":"AT","expires_in":7200}`,
		`{"errcode":0,"errmsg":"ok","access_token":"AT","expires_in":7200}`,
		`{"errcode":40001,"errmsg":"invalid credential"}`,
		`{"access_token":null,"expires_in":"7200"}`,
		`{"expires_in":-1}`, `[]`, `{`, ``,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		v, life, err := decodeCredential([]byte(body), "access_token")
		if err != nil {
			return
		}
		if v == "" || len(v) > maxCredentialLen || life <= 0 || life > maxLifetime {
			t.Fatalf("accepted %q for %v from %q", v, life, body)
		}
	})
}
