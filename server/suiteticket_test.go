package server_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken/server"
)

// A pushed suite_ticket's timestamp decides which push is newest, so a
// hostile or broken one must not be taken: a day ahead would lock out
// genuine pushes for a day, milliseconds would store a ticket nobody can
// read, an expired one is the caller's mistake (400), not an outage (503).
// A genuine push is read back before the answer says stored.
func TestSuiteTicketTimestampsAreChecked(t *testing.T) {
	e := newEnv(t, func(c *server.Config) {
		t.Setenv("SUITE_SECRET", "suite-secret")
		c.Apps = append(c.Apps, server.AppConfig{ID: "suite", Kind: "suite", SuiteID: "suite1", SecretEnv: "SUITE_SECRET"})
	})
	e.sim.AddSuite("suite1", "suite-secret")
	now := time.Now()
	push := func(ticket string, ts int64) (int, string) {
		code, body := e.do("POST", "/v1/suite_ticket/suite", billingKey,
			strings.NewReader(fmt.Sprintf(`{"suite_ticket":%q,"timestamp":%d}`, ticket, ts)))
		return code, string(body)
	}
	for _, c := range []struct {
		name string
		ts   int64
		says string
	}{
		{"a day ahead", now.Add(24 * time.Hour).Unix(), "ahead"},
		{"in milliseconds", now.UnixMilli(), "milliseconds"},
		{"an hour old (expired)", now.Add(-time.Hour).Unix(), "old"},
	} {
		if code, body := push("bogus-"+c.name, c.ts); code != 400 || !strings.Contains(body, c.says) {
			t.Errorf("a push %s: %d %s; want 400 saying %q", c.name, code, body, c.says)
		}
	}
	ticket := e.sim.PushSuiteTicket("suite1")
	if code, body := push(ticket, now.Unix()); code != 200 || !strings.Contains(body, `"stored":true`) {
		t.Fatalf("a genuine push after the refused ones: %d %s; want stored true", code, body)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		code, body := e.do("GET", "/v1/token/suite", billingKey, nil)
		if code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the suite token after the genuine push: %d %s", code, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
