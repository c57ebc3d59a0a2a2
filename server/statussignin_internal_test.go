package server

import (
	"crypto/sha256"
	"testing"
	"time"
)

func TestSessionCookieRules(t *testing.T) {
	c := &clients{names: []string{"ops", "billing"}, digests: [][32]byte{sha256.Sum256([]byte("ops-key")), sha256.Sum256([]byte("billing-key"))}}
	now := time.Unix(1_800_000_000, 0)
	v := c.seal("ops", now.Add(statusSessionTTL))
	if got := c.openSession(v, now); got != "ops" {
		t.Fatalf("a fresh session opens as %q, want ops", got)
	}
	if got := c.openSession(v, now.Add(statusSessionTTL)); got != "" {
		t.Errorf("an ended session opens as %q", got)
	}
	if got := c.openSession(c.seal("ops", now.Add(24*time.Hour)), now); got != "" {
		t.Errorf("a session ending a day ahead opens as %q (the MAC is right, the lifetime is not)", got)
	}
	if got := c.seal("nobody", now.Add(time.Minute)); got != "" {
		t.Errorf("a session for an unknown client: %q", got)
	}
	rotated := &clients{names: c.names, digests: [][32]byte{sha256.Sum256([]byte("new-ops-key")), c.digests[1]}}
	if got := rotated.openSession(v, now); got != "" {
		t.Errorf("a session of a key since changed opens as %q", got)
	}
	for _, bad := range []string{"", "v1", "v2.b3Bz.1.AA", v + ".x", "v1.b3Bz.notanumber.AA", "v1.!!.1800000600.AA"} {
		if got := c.openSession(bad, now); got != "" {
			t.Errorf("openSession(%q) = %q", bad, got)
		}
	}
}
