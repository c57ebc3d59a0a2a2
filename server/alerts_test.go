package server_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The shipped alert rules (docs/alerts.yaml) are valid, fire as their unit
// tests say (docs/alerts_test.yaml), and name only metrics the server
// exports.
func TestAlertRules(t *testing.T) {
	docs, err := filepath.Abs("../docs")
	if err != nil {
		t.Fatal(err)
	}
	rules, err := os.ReadFile(filepath.Join(docs, "alerts.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	checkMetricNames(t, "docs/alerts.yaml", string(rules), exportedMetrics(t))
	promtool := tool(t, "Debian's prometheus package", "promtool")
	for _, args := range [][]string{{"check", "rules", "alerts.yaml"}, {"test", "rules", "alerts_test.yaml"}} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = docs
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// exportedMetrics is what /metrics answers once the base apps, apps with
// tenants, a failing app and a WeCom app have served a request each.
func exportedMetrics(t *testing.T) string {
	e := tenantEnv(t) // the base apps, and apps with tenants
	e.do("GET", "/v1/token/shop", billingKey, nil)
	e.do("GET", "/v1/token/bad", billingKey, nil)
	e.do("GET", "/v1/token/corp", billingKey, nil) // a WeCom token: it has a renew time
	_, metrics := e.do("GET", "/metrics", billingKey, nil)
	return string(metrics)
}

// checkMetricNames fails for every wxtoken_ metric name in text (a file
// called file) that metrics, a /metrics answer, does not have.
func checkMetricNames(t *testing.T, file, text, metrics string) {
	t.Helper()
	for _, name := range regexp.MustCompile(`wxtoken_[a-z_]+`).FindAllString(text, -1) {
		if !strings.Contains(metrics, "\n"+name) {
			t.Errorf("%s uses %s, which the server does not export", file, name)
		}
	}
}
