package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/wxtoken/wxtoken/wechat"
)

// The server's own errcodes, beside upstream's (which 502 answers carry).
const (
	CodeMalformed    = 40000
	CodeUnauthorized = 40100
	CodeForbidden    = 40300
	CodeUnknownApp   = 40400
	CodeMethod       = 40500
	CodeTooLarge     = 41300
	CodeMisdirected  = 42100
	CodeRateLimited  = 42900
	CodeUnavailable  = 50300
)

type errorBody struct {
	Errcode int    `json:"errcode"`
	Errmsg  string `json:"errmsg"`
}

// The headers of every JSON answer, made once: Header.Set would allocate
// a slice per request. net/http only reads them.
var (
	jsonContentType = []string{"application/json; charset=utf-8"}
	noStore         = []string{"no-store"}
)

// jsonHeaders sets the headers of a JSON answer.
func jsonHeaders(w http.ResponseWriter) {
	h := w.Header()
	h["Content-Type"] = jsonContentType
	h["Cache-Control"] = noStore
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	jsonHeaders(w)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status, code int, msg string) {
	writeJSON(w, status, errorBody{Errcode: code, Errmsg: msg})
}

// writeTokenError answers a failed Token or Invalidate: 502 with
// upstream's errcode when upstream refused, else 503 (no usable token and
// the refresh failing: network, timeout, store down). Error texts carry no
// secret (the wechat package guarantees it).
func writeTokenError(w http.ResponseWriter, err error) {
	var ae *wechat.APIError
	if errors.As(err, &ae) {
		// Upstream's own message, once: the errcode says the rest.
		writeError(w, http.StatusBadGateway, ae.Code, ae.Msg)
		return
	}
	writeError(w, http.StatusServiceUnavailable, CodeUnavailable, "no usable token: "+err.Error())
}

// errRequestTimeout is the cause of a request context that reached the
// config's request_timeout.
var errRequestTimeout = errors.New("no usable token within request_timeout")

// writeRequestError answers a failed Token or Invalidate of r: as
// writeTokenError, but naming request_timeout when that ended the wait.
func writeRequestError(w http.ResponseWriter, r *http.Request, err error) {
	var ae *wechat.APIError
	if cause := context.Cause(r.Context()); errors.Is(cause, errRequestTimeout) && !errors.As(err, &ae) {
		msg := cause.Error()
		if !errors.Is(err, context.DeadlineExceeded) {
			msg += ", the last attempt: " + err.Error()
		}
		writeError(w, http.StatusServiceUnavailable, CodeUnavailable, msg)
		return
	}
	writeTokenError(w, err)
}

// decodeBody reads a size-limited JSON body into v, answering the error
// itself when it cannot.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			writeError(w, http.StatusRequestEntityTooLarge, CodeTooLarge, "request body over 64 KiB")
		} else {
			writeError(w, http.StatusBadRequest, CodeMalformed, "malformed JSON body: "+err.Error())
		}
		return false
	}
	return true
}
