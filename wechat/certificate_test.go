package wechat_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"

	"github.com/wxtoken/wxtoken/core"
	"github.com/wxtoken/wxtoken/wechat"
	"github.com/wxtoken/wxtoken/wxsim"
)

// An upstream whose certificate does not verify (a missing CA, an egress
// proxy that re-signs TLS) is a configuration problem, not an outage:
// retrying cannot help, so the error is not transient and callers are told
// at once instead of waiting out their patience.
func TestRefusedCertificateIsNotTransient(t *testing.T) {
	sim := wxsim.New()
	sim.AddApp("wxcert00000000001", "secret")
	up := httptest.NewTLSServer(sim) // signed by a CA no pool here trusts
	defer up.Close()
	_, err := wechat.OfficialAccount("wxcert00000000001", "secret", wechat.WithBaseURL(up.URL)).
		Fetch(context.Background(), core.FetchRequest{ID: "t"})
	var te *wechat.TransportError
	if !errors.As(err, &te) || !te.Certificate {
		t.Fatalf("an unverified certificate: %v; want a TransportError that says Certificate", err)
	}
	if core.IsTransient(err) {
		t.Fatalf("an unverified certificate counts as transient: %v", err)
	}
}
