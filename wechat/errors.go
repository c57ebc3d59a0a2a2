package wechat

import (
	"errors"
	"fmt"
)

// Errcodes that say the access_token a business API was given is bad: the
// passive refresh signal.
const (
	CodeInvalidCredential = 40001 // invalid credential, or not the latest token
	CodeInvalidToken      = 40014 // invalid access_token
	CodeTokenMissing      = 41001 // access_token missing
	CodeTokenExpired      = 42001 // access_token expired
	CodeSystemBusy        = -1    // system error, try again
	CodeDailyQuota        = 45009 // reach max api daily quota limit
)

// APIError is an errcode answer from WeChat or WeCom. Msg is upstream's
// errmsg with any secret of the request blanked out.
type APIError struct {
	Endpoint string // the path called, such as /cgi-bin/token
	Code     int
	Msg      string
}

// Error implements error.
func (e *APIError) Error() string {
	return fmt.Sprintf("wechat: %s: errcode %d: %s", e.Endpoint, e.Code, e.Msg)
}

// Transient reports whether retrying soon may succeed: only errcode -1
// ("system error") is. Every other errcode (a wrong secret, an IP not on
// the whitelist, a spent quota) stays wrong until someone acts, so the
// Manager returns it at once and holds it.
func (e *APIError) Transient() bool { return e.Code == CodeSystemBusy }

// HTTPError is an answer with an HTTP status other than 200.
type HTTPError struct {
	Endpoint string
	Status   int
}

// Error implements error.
func (e *HTTPError) Error() string {
	return fmt.Sprintf("wechat: %s: HTTP %d", e.Endpoint, e.Status)
}

// Transient reports whether the status is worth retrying (5xx, 429).
func (e *HTTPError) Transient() bool { return e.Status >= 500 || e.Status == 429 }

// TransportError is a failure to get any answer: refused connection,
// timeout, reset. It never carries the request URL, whose query may hold a
// secret.
type TransportError struct {
	Endpoint string
	Err      error
	// TimedOut says the request ran out of time (the client's timeout or
	// the context's deadline), as opposed to a refused or reset connection.
	TimedOut bool
	// Certificate says upstream's TLS certificate did not verify (unknown
	// authority, wrong name, expired): a missing CA or an egress proxy that
	// re-signs TLS, which no retry mends.
	Certificate bool
}

// Timeout reports TimedOut, as net.Error does.
func (e *TransportError) Timeout() bool { return e.TimedOut }

// Error implements error.
func (e *TransportError) Error() string {
	return fmt.Sprintf("wechat: %s: %v", e.Endpoint, e.Err)
}

// Unwrap returns the underlying network or context error.
func (e *TransportError) Unwrap() error { return e.Err }

// Transient reports whether the next attempt may get through: true, except
// for a refused certificate.
func (e *TransportError) Transient() bool { return !e.Certificate }

// IsTokenError reports whether err is an errcode saying the access_token
// used was bad (40001, 40014, 41001, 42001): the caller should Invalidate
// that token and retry once.
func IsTokenError(err error) bool {
	var ae *APIError
	if !errors.As(err, &ae) {
		return false
	}
	switch ae.Code {
	case CodeInvalidCredential, CodeInvalidToken, CodeTokenMissing, CodeTokenExpired:
		return true
	}
	return false
}

// Code returns the errcode inside err, or 0 when err is not an APIError.
func Code(err error) int {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Code
	}
	return 0
}
