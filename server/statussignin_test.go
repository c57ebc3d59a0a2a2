package server_test

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wxtoken/wxtoken/server"
)

// A person signs in to the status page with a client key through the
// form, as a browser does (cookie jar, redirects followed), sees the apps
// that client may use, and signs out. The cookie cannot be read by
// scripts, is sent to this site only, and the form refuses other sites.
func TestStatusPageSignIn(t *testing.T) {
	e := newEnv(t)
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar}
	page := func() (int, string) {
		t.Helper()
		resp, err := browser.Get(e.http.URL + "/")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		e.bodies.Write(b)
		return resp.StatusCode, string(b)
	}
	signIn := func(key string, header http.Header) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("POST", e.http.URL+"/signin", strings.NewReader(url.Values{"key": {key}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for k, v := range header {
			req.Header[k] = v
		}
		resp, err := browser.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		e.bodies.Write(b)
		return resp
	}

	code, body := page()
	if code != 401 || !strings.Contains(body, `action="signin"`) || strings.Contains(body, "<code>shop</code>") {
		t.Fatalf("without a session: %d, want 401 and the sign-in form without any app:\n%s", code, body)
	}
	if resp := signIn("not-a-key", nil); resp.StatusCode != 401 || len(jar.Cookies(resp.Request.URL)) != 0 {
		t.Fatalf("a wrong key: %d with cookies %v, want 401 and none", resp.StatusCode, jar.Cookies(resp.Request.URL))
	}
	// Another site's page posting the form (login CSRF).
	cross := http.Header{"Origin": {"https://attacker.example"}, "Sec-Fetch-Site": {"cross-site"}}
	if resp := signIn(reportsKey, cross); resp.StatusCode != http.StatusForbidden || len(jar.Cookies(resp.Request.URL)) != 0 {
		t.Fatalf("a cross-site sign-in: %d, want 403 and no cookie", resp.StatusCode)
	}

	// The cookie's attributes, as set.
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest("POST", e.http.URL+"/signin", strings.NewReader(url.Values{"key": {reportsKey}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	set := resp.Header.Get("Set-Cookie")
	if resp.StatusCode != http.StatusSeeOther || !strings.Contains(set, "HttpOnly") || !strings.Contains(set, "SameSite=Strict") ||
		!strings.Contains(set, "Max-Age=1800") || strings.Contains(set, reportsKey) {
		t.Fatalf("sign-in answer %d, Set-Cookie %q: want 303 and an HttpOnly, SameSite=Strict, 30-minute cookie without the key", resp.StatusCode, set)
	}

	if resp := signIn(reportsKey, nil); resp.StatusCode != 200 {
		t.Fatalf("signing in: %d after the redirect, want 200", resp.StatusCode)
	}
	code, body = page()
	if code != 200 || !strings.Contains(body, "<code>restricted</code>") || !strings.Contains(body, `action="signout"`) {
		t.Fatalf("signed in as reports: %d, want 200 with the app only reports may use and a sign-out button:\n%s", code, body)
	}

	// A cookie altered to name another client is no session.
	u, _ := url.Parse(e.http.URL)
	cookies := jar.Cookies(u)
	if len(cookies) != 1 {
		t.Fatalf("cookies: %v", cookies)
	}
	forged := strings.Split(cookies[0].Value, ".")
	forged[1] = "YmlsbGluZw" // base64url("billing")
	tampered, _ := cookiejar.New(nil)
	tampered.SetCookies(u, []*http.Cookie{{Name: cookies[0].Name, Value: strings.Join(forged, "."), Path: "/"}})
	if resp, err := (&http.Client{Jar: tampered}).Get(e.http.URL + "/"); err != nil || resp.StatusCode != 401 {
		t.Fatalf("a forged cookie: %v %v, want 401", resp.StatusCode, err)
	}

	req, _ = http.NewRequest("POST", e.http.URL+"/signout", nil)
	if resp, err := browser.Do(req); err != nil || resp.StatusCode != 401 {
		t.Fatalf("signing out: %v, then the page answers %d, want the form (401)", err, resp.StatusCode)
	}
	if code, _ := page(); code != 401 {
		t.Fatalf("after signing out: %d, want 401", code)
	}
}

// An instance that took its token from the store shows when the fleet
// fetched it, not "-".
func TestStatusPageShowsTheFleetsLastRefresh(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "store"), 0o700)
	onFile := func(c *server.Config) { c.Cache = "file://" + filepath.Join(dir, "store") }
	a := newEnv(t, onFile)
	if code, _ := a.do("GET", "/v1/token/shop", billingKey, nil); code != 200 {
		t.Fatal("no token on the first server")
	}
	b := newEnv(t, onFile, func(c *server.Config) {
		c.Upstream.WeChat = a.sim.URL // the first server's upstream: the token it fetched is valid there
	})
	if code, _ := b.do("GET", "/v1/token/shop", billingKey, nil); code != 200 {
		t.Fatal("no token on the second server")
	}
	if n := a.sim.Stats().TokenCalls(); n != 1 {
		t.Fatalf("upstream token calls: %d, want 1 (the second server takes the token from the store)", n)
	}
	_, page := b.do("GET", "/", billingKey, nil)
	row := string(page)[strings.Index(string(page), "<code>shop</code>"):]
	row = row[:strings.Index(row, "</tr>")]
	if !strings.Contains(row, "\n <td>20") { // the cell after "time left": an RFC 3339 time, not "-"
		t.Fatalf("the second server's row for shop shows no last refresh:\n%s", row)
	}
}
