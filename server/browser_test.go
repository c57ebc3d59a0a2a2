package server_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken/server"
)

// chromium returns the path of a headless-capable Chromium (see tool).
func chromium(t *testing.T) string {
	return tool(t, "Debian's chromium package", "chromium", "chromium-browser", "google-chrome")
}

// tool returns the path of the first of names found, skipping the test
// when there is none, or failing it under CI (which installs every tool
// the tests use, scripts/install-test-deps).
func tool(t *testing.T, pkg string, names ...string) string {
	t.Helper()
	for _, name := range names {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is required under CI (%s)", names[0], pkg)
	}
	t.Skipf("no %s: install %s (scripts/install-test-deps)", names[0], pkg)
	return ""
}

func runChromium(t *testing.T, bin string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-default-apps",
		"--user-data-dir=" + t.TempDir()}
	out, err := exec.CommandContext(ctx, bin, append(base, args...)...).Output()
	if err != nil {
		t.Fatalf("chromium %v: %v", args, err)
	}
	return out
}

// The status page, opened in headless Chromium, shows every app anyone may
// see (with auth off, those not limited to named clients); the screenshot is kept as a test artifact (go test -artifacts).
func TestStatusPageInChromium(t *testing.T) {
	bin := chromium(t)
	no := false
	e := newEnv(t, func(c *server.Config) { c.Auth.Status = &no })
	for _, app := range []string{"shop", "stable", "corp", "bad"} {
		e.do("GET", "/v1/token/"+app, billingKey, nil)
	}
	dom := string(runChromium(t, bin, "--dump-dom", e.http.URL+"/"))
	for _, app := range []string{"shop", "stable", "corp", "bad"} {
		if !strings.Contains(dom, "<code>"+app+"</code>") {
			t.Errorf("the rendered status page lacks app %q", app)
		}
	}
	if strings.Contains(dom, "<code>restricted</code>") {
		t.Error("the public status page shows an app limited to named clients")
	}
	if !strings.Contains(dom, "failing") || !strings.Contains(dom, "/ 2000") {
		t.Error("the rendered status page lacks the failing app or the daily limit")
	}
	shot := filepath.Join(t.ArtifactDir(), "status-page.png")
	runChromium(t, bin, "--window-size=1500,520", "--screenshot="+shot, e.http.URL+"/")
	info, err := os.Stat(shot)
	if err != nil || info.Size() < 10_000 {
		t.Fatalf("screenshot %s: %v (%d bytes)", shot, err, sizeOf(info))
	}
	t.Logf("status page screenshot: %s (%d bytes)", shot, info.Size())
}

func sizeOf(fi os.FileInfo) int64 {
	if fi == nil {
		return 0
	}
	return fi.Size()
}

// signInDriver is a page of the test's own, served on the status page's
// origin, that posts the sign-in form as a person would by typing the key
// and pressing the button; the browser then follows the redirect to the
// status page with its new cookie.
const signInDriver = `<!doctype html><html><body onload="document.forms[0].submit()">
<form method="post" action="/signin"><input type="password" name="key" value="%s"></form></body></html>`

// With auth.status on (the default), a browser gets the sign-in form, and
// after signing in the page of its client: headless Chromium, through
// the real form post, cookie and redirect.
func TestStatusPageSignInInChromium(t *testing.T) {
	bin := chromium(t)
	e := newEnv(t)
	for _, app := range []string{"shop", "restricted"} {
		e.do("GET", "/v1/token/"+app, reportsKey, nil)
	}
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/test-sign-in" {
			fmt.Fprintf(w, signInDriver, reportsKey)
			return
		}
		e.srv.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)

	form := string(runChromium(t, bin, "--dump-dom", front.URL+"/"))
	if !strings.Contains(form, `action="signin"`) || strings.Contains(form, "<code>shop</code>") {
		t.Fatalf("without a session Chromium shows no sign-in form, or shows apps:\n%s", form)
	}
	dom := string(runChromium(t, bin, "--virtual-time-budget=3000", "--dump-dom", front.URL+"/test-sign-in"))
	if !strings.Contains(dom, "<code>restricted</code>") || !strings.Contains(dom, "Sign out") {
		t.Fatalf("after signing in Chromium shows no status page of the reports client:\n%s", dom)
	}
	shot := filepath.Join(t.ArtifactDir(), "status-page-signed-in.png")
	runChromium(t, bin, "--virtual-time-budget=3000", "--window-size=1500,520", "--screenshot="+shot, front.URL+"/test-sign-in")
	if info, err := os.Stat(shot); err != nil || info.Size() < 10_000 {
		t.Fatalf("screenshot %s: %v (%d bytes)", shot, err, sizeOf(info))
	}
	t.Logf("signed-in status page screenshot: %s", shot)
}
