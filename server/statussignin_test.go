package server_test

import (
	"fmt"
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

	// A copy of the cookie (another browser, a stolen one) opens the page
	// until its owner signs out, and not after.
	copied, _ := cookiejar.New(nil)
	copied.SetCookies(u, cookies)
	if resp, err := (&http.Client{Jar: copied}).Get(e.http.URL + "/"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("a copy of the session cookie before signing out: %v %v, want 200", resp.StatusCode, err)
	}
	req, _ = http.NewRequest("POST", e.http.URL+"/signout", nil)
	if resp, err := browser.Do(req); err != nil || resp.StatusCode != 401 {
		t.Fatalf("signing out: %v, then the page answers %d, want the form (401)", err, resp.StatusCode)
	}
	if code, _ := page(); code != 401 {
		t.Fatalf("after signing out: %d, want 401", code)
	}
	if resp, err := (&http.Client{Jar: copied}).Get(e.http.URL + "/"); err != nil || resp.StatusCode != 401 {
		t.Fatalf("a copy of the session cookie after signing out: %v %v, want 401", resp.StatusCode, err)
	}
}

// Over HTTPS (here: a trusted proxy that terminates TLS and says so) the
// cookie is Secure and __Host- prefixed; over plain HTTP it is neither,
// and it never goes to the other. The redirect after signing in is
// relative, so that it stays under a proxy's path prefix.
func TestStatusCookieFollowsTheScheme(t *testing.T) {
	e := newEnv(t, func(c *server.Config) { c.TrustedProxies = []string{"127.0.0.1"} })
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	signIn := func(proto string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("POST", e.http.URL+"/signin", strings.NewReader(url.Values{"key": {reportsKey}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if proto != "" {
			req.Header.Set("X-Forwarded-Proto", proto)
		}
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	resp := signIn("https")
	set := resp.Header.Get("Set-Cookie")
	if !strings.HasPrefix(set, "__Host-wxtoken_status=") || !strings.Contains(set, "; Secure") || !strings.Contains(set, "Path=/;") {
		t.Errorf("behind a TLS proxy, Set-Cookie %q: want a Secure __Host- cookie on /", set)
	}
	if loc := resp.Header.Get("Location"); loc != "./" {
		t.Errorf("the redirect after signing in goes to %q, want ./ (relative to the form)", loc)
	}
	secure := resp.Cookies()[0]
	page := func(proto string, c *http.Cookie) int {
		req, _ := http.NewRequest("GET", e.http.URL+"/", nil)
		if proto != "" {
			req.Header.Set("X-Forwarded-Proto", proto)
		}
		req.AddCookie(c)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := page("https", secure); code != 200 {
		t.Errorf("the secure cookie over HTTPS: %d, want 200", code)
	}
	if code := page("", secure); code != 401 {
		t.Errorf("the secure cookie over plain HTTP: %d, want 401", code)
	}
	set = signIn("").Header.Get("Set-Cookie")
	if !strings.HasPrefix(set, "wxtoken_status=") || strings.Contains(set, "Secure") {
		t.Errorf("over plain HTTP, Set-Cookie %q: want wxtoken_status, not Secure (a browser would drop it)", set)
	}
}

// An address that tries many different wrong keys, through the form or
// the bearer header, is refused (429), its right keys too, while other
// addresses are served; a client retrying one stale key is not.
func TestWrongKeysAreLimitedByAddress(t *testing.T) {
	e := newEnv(t, func(c *server.Config) { c.TrustedProxies = []string{"127.0.0.1"} })
	from := func(addr, method, path, key string, form bool) int {
		t.Helper()
		var body io.Reader
		if form {
			body = strings.NewReader(url.Values{"key": {key}}.Encode())
		}
		req, _ := http.NewRequest(method, e.http.URL+path, body)
		req.Header.Set("X-Forwarded-For", addr)
		if form {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		} else if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		e.bodies.Write(b)
		return resp.StatusCode
	}
	const stale, guesser, other = "198.51.100.1", "203.0.113.7", "198.51.100.2"
	for range 50 {
		if code := from(stale, "GET", "/v1/token/shop", "billing-k3y-of-last-year", false); code != 401 {
			t.Fatalf("a stale key: %d, want 401", code)
		}
	}
	if code := from(stale, "GET", "/v1/token/shop", billingKey, false); code != 200 {
		t.Fatalf("after one stale key retried 50 times, the right key from that address: %d, want 200", code)
	}
	for i := range 30 {
		from(guesser, "POST", "/signin", fmt.Sprintf("guess-%04d-of-many", i), true)
		from(guesser, "GET", "/v1/token/shop", fmt.Sprintf("bearer-guess-%04d", i), false)
	}
	if code := from(guesser, "POST", "/signin", reportsKey, true); code != http.StatusTooManyRequests {
		t.Errorf("the right key through the form after 60 wrong ones: %d, want 429", code)
	}
	if code := from(guesser, "GET", "/v1/token/shop", billingKey, false); code != http.StatusTooManyRequests {
		t.Errorf("the right bearer key after 60 wrong ones: %d, want 429", code)
	}
	if code := from(guesser, "GET", "/", billingKey, false); code != http.StatusTooManyRequests {
		t.Errorf("the status page with the right bearer key after 60 wrong ones: %d, want 429", code)
	}
	if code := from(other, "GET", "/v1/token/shop", billingKey, false); code != 200 {
		t.Errorf("another address: %d, want 200", code)
	}
	if code := from(other, "POST", "/signin", reportsKey, true); code != http.StatusSeeOther {
		t.Errorf("signing in from another address: %d, want 303", code)
	}
}

// A server without client keys (on loopback, as it must be) answers only
// requests addressed to loopback: a page rebound by DNS to 127.0.0.1
// names its own host. One with keys answers any Host (a local proxy may
// forward the public one).
func TestLoopbackHostsOnly(t *testing.T) {
	noAuth := newEnv(t, func(c *server.Config) { c.Clients, c.InsecureNoAuth, c.Apps = nil, true, c.Apps[:1] })
	withKeys := newEnv(t)
	for host, want := range map[string]int{"evil.example": 421, "evil.example:8080": 421, "127.0.0.1.evil.example": 421,
		"127.0.0.1:8080.evil.example": 421, "localhost:8080": 200, "127.0.0.1": 200, "[::1]:8080": 200, "app.localhost": 200} {
		for _, e := range []*env{noAuth, withKeys} {
			req, _ := http.NewRequest("GET", e.http.URL+"/v1/token/shop", nil)
			req.Host = host
			req.Header.Set("Authorization", "Bearer "+billingKey)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if e == withKeys && resp.StatusCode != 200 {
				t.Errorf("with client keys, Host %s: %d, want 200", host, resp.StatusCode)
			}
			if e == noAuth && resp.StatusCode != want {
				t.Errorf("without client keys, Host %s: %d, want %d", host, resp.StatusCode, want)
			}
		}
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

// Without client keys, a web page the machine's browser opens could post
// to the API (a form needs no preflight); a browser's cross-site POST is
// refused, other clients' are not.
func TestAPIRefusesCrossSiteBrowserPosts(t *testing.T) {
	e := newEnv(t, func(c *server.Config) { c.Clients, c.InsecureNoAuth, c.Apps = nil, true, c.Apps[:1] })
	post := func(header http.Header) int {
		req, _ := http.NewRequest("POST", e.http.URL+"/v1/token/shop/invalidate", strings.NewReader(`{"access_token":"x"}`))
		req.Header.Set("Content-Type", "text/plain")
		for k, v := range header {
			req.Header[k] = v
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post(http.Header{"Sec-Fetch-Site": {"cross-site"}, "Origin": {"https://attacker.example"}}); code != http.StatusForbidden {
		t.Errorf("a browser's cross-site POST: %d, want 403", code)
	}
	if code := post(nil); code != 200 {
		t.Errorf("a client's POST: %d, want 200", code)
	}
}
