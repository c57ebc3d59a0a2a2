package wxsim

import (
	"encoding/json"
	"net/http"
	"time"
)

// Upstream's messages for the errcodes the simulator answers with.
var errmsgs = map[int]string{
	-1:    "system error",
	40001: "invalid credential, access_token is invalid or not latest",
	40002: "invalid grant_type",
	40013: "invalid appid",
	40014: "invalid access_token",
	40082: "invalid suite_id",
	40083: "invalid suite_secret",
	40084: "invalid permanent_code",
	40078: "invalid auth_code",
	40085: "invalid suite_ticket",
	40125: "invalid appsecret",
	41001: "access_token missing",
	41002: "appid missing",
	41004: "appsecret missing",
	42001: "access_token expired",
	42009: "suite_access_token expired",
	43002: "require POST method",
	44002: "empty post data",
	45009: "reach max api daily quota limit",
	47001: "data format error",
	61003: "component is not authorized by this account",
	61005: "component ticket is expired",
	61006: "component ticket is invalid",
	61009: "code is invalid",
	61023: "refresh_token is invalid",
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(v)
}

// fail answers an errcode the way upstream does: HTTP 200, errmsg ending
// with " rid: ...".
func fail(w http.ResponseWriter, code int) {
	msg, ok := errmsgs[code]
	if !ok {
		msg = "error"
	}
	writeJSON(w, map[string]any{"errcode": code, "errmsg": msg + " rid: " + requestID()})
}

// grant answers a credential. withErrcode adds errcode 0 / "ok", as the
// WeCom and ticket endpoints do; /cgi-bin/token and the service APIs omit
// it.
func grant(w http.ResponseWriter, field, value string, expires, now time.Time, withErrcode bool) {
	body := map[string]any{field: value, "expires_in": expiresIn(expires, now)}
	if withErrcode {
		body["errcode"], body["errmsg"] = 0, "ok"
	}
	writeJSON(w, body)
}

// expiresIn is the expires_in of a grant: whole seconds from now to
// expires.
func expiresIn(expires, now time.Time) int64 { return int64(expires.Sub(now) / time.Second) }

// decodeBody reads a JSON request body into v; it answers the error itself
// and reports false when the body is unusable.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	if r.Method != http.MethodPost {
		fail(w, 43002)
		return false
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(v); err != nil {
		fail(w, 47001)
		return false
	}
	return true
}
