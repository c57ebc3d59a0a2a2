package server_test

import (
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The Python client in docs/clients runs against a real server: a token,
// a call repaired after upstream revoked the token (one report, one
// retry), a JS-SDK signature, and a refused key.
func TestPythonClient(t *testing.T) {
	python := tool(t, "Debian's python3 package", "python3")
	e := newEnv(t)
	revoke := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.sim.Revoke(r.URL.Query().Get("access_token"))
	}))
	defer revoke.Close()
	dir, err := filepath.Abs("../docs/clients")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(python, "client_check.py", e.http.URL, billingKey, "shop", e.sim.URL, revoke.URL)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "PASS") {
		t.Fatalf("docs/clients/client_check.py: %v\n%s", err, out)
	}
}
