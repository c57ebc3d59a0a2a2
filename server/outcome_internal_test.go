package server

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/wxtoken/wxtoken/wechat"
)

// The fetch metric tells a refusal from an HTTP error, a timeout and
// another network failure: before, all but refusals were "-2".
func TestFetchOutcomeLabels(t *testing.T) {
	for want, err := range map[string]error{
		"0":           nil,
		"40125":       &wechat.APIError{Code: 40125},
		"http_502":    &wechat.HTTPError{Status: 502},
		"timeout":     &wechat.TransportError{Err: errors.New("i/o timeout"), TimedOut: true},
		"transport":   &wechat.TransportError{Err: errors.New("connection refused")},
		"certificate": &wechat.TransportError{Err: errors.New("x509: certificate signed by unknown authority"), Certificate: true},
	} {
		if got := outcome(err); got != want {
			t.Errorf("outcome(%v) = %q, want %q", err, got, want)
		}
	}
	if got := outcome(fmt.Errorf("wrapped: %w", context.DeadlineExceeded)); got != "timeout" {
		t.Errorf("a deadline: %q, want timeout", got)
	}
}
