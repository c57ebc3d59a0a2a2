package server

import (
	"crypto/hmac"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"html/template"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// A person opens the status page in a browser, which cannot send a bearer
// key: they sign in once with a client key through a form, and get a
// cookie that names their client, for statusSessionTTL.
//
// The cookie is "v1.NAME.EXPIRY.MAC": the client's name (base64url), when
// it ends (Unix seconds) and an HMAC-SHA256 of both keyed with the
// SHA-256 of the client's key. Every instance with the same clients
// checks it without shared state, a reload keeps it, and changing a
// client's key ends its sessions. It is HttpOnly (no script reads it),
// SameSite=Strict (no other site's page sends it), Secure over HTTPS, and
// its path is the page's own. The form's POST refuses cross-origin
// requests (http.CrossOriginProtection), so no other site can sign a
// visitor in or out; the page itself only reads.
const (
	statusCookie     = "wxtoken_status"
	statusSessionTTL = 30 * time.Minute
)

//go:embed signin.html
var signInHTML string

var signInTmpl = template.Must(template.New("signin").Parse(signInHTML))

// sessionMAC is the MAC of a session of client i.
func (c *clients) sessionMAC(i int, exp int64) []byte {
	m := hmac.New(sha256.New, c.digests[i][:])
	m.Write([]byte("wxtoken status session\x00" + c.names[i] + "\x00" + strconv.FormatInt(exp, 10)))
	return m.Sum(nil)
}

// seal returns the cookie value of a session of the client called name,
// ending at exp.
func (c *clients) seal(name string, exp time.Time) string {
	i := slices.Index(c.names, name)
	if i < 0 {
		return ""
	}
	enc := base64.RawURLEncoding
	return "v1." + enc.EncodeToString([]byte(name)) + "." + strconv.FormatInt(exp.Unix(), 10) + "." + enc.EncodeToString(c.sessionMAC(i, exp.Unix()))
}

// openSession returns the client a cookie value signs in, or "" for one
// that does not parse, has ended, ends too far ahead or does not verify.
func (c *clients) openSession(value string, now time.Time) string {
	parts := strings.Split(value, ".")
	if len(parts) != 4 || parts[0] != "v1" {
		return ""
	}
	enc := base64.RawURLEncoding
	name, err1 := enc.DecodeString(parts[1])
	exp, err2 := strconv.ParseInt(parts[2], 10, 64)
	mac, err3 := enc.DecodeString(parts[3])
	if err1 != nil || err2 != nil || err3 != nil {
		return ""
	}
	if end := time.Unix(exp, 0); !end.After(now) || end.After(now.Add(statusSessionTTL+time.Minute)) {
		return ""
	}
	i := slices.Index(c.names, string(name))
	if i < 0 || !hmac.Equal(mac, c.sessionMAC(i, exp)) {
		return ""
	}
	return c.names[i]
}

// statusNeedsKey reports whether the status page is only for clients.
func (s *Server) statusNeedsKey() bool {
	return !s.cfg.InsecureNoAuth && (s.cfg.Auth.Status == nil || *s.cfg.Auth.Status)
}

// handleStatusPage serves the status page to a client signed in by
// cookie or bearer key, and the sign-in form to anyone else.
func (s *Server) handleStatusPage(w http.ResponseWriter, r *http.Request) {
	if !s.statusNeedsKey() {
		s.handleStatus(w, r)
		return
	}
	name := s.bearerClient(r)
	if c, err := r.Cookie(statusCookie); name == "" && r.Header.Get("Authorization") == "" && err == nil {
		name = s.clients.openSession(c.Value, time.Now())
	}
	if name == "" {
		s.signInForm(w, "")
		return
	}
	s.handleStatus(w, withClient(r, name))
}

// handleSignIn checks the key a person typed and, when it is a client's,
// sets the session cookie and sends them to the page.
func (s *Server) handleSignIn(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	name := ""
	if err := r.ParseForm(); err == nil {
		if key := r.PostForm.Get("key"); key != "" {
			name = s.clients.match(key)
		}
	}
	if name == "" {
		s.signInForm(w, "That is not a client key of this server.")
		return
	}
	withClient(r, name) // for the request log
	http.SetCookie(w, s.sessionCookie(r, s.clients.seal(name, time.Now().Add(statusSessionTTL)), int(statusSessionTTL/time.Second)))
	http.Redirect(w, r, ".", http.StatusSeeOther)
}

// handleSignOut ends the session in this browser.
func (s *Server) handleSignOut(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, s.sessionCookie(r, "", -1))
	http.Redirect(w, r, ".", http.StatusSeeOther)
}

func (s *Server) sessionCookie(r *http.Request, value string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: statusCookie, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode}
}

// signInForm answers 401 with the form; message says why the last try
// failed ("" for none). It says nothing of which clients exist.
func (s *Server) signInForm(w http.ResponseWriter, message string) {
	pageHeaders(w)
	w.Header().Set("WWW-Authenticate", `Bearer realm="wxtoken"`)
	w.WriteHeader(http.StatusUnauthorized)
	if err := signInTmpl.Execute(w, struct{ Message string }{message}); err != nil {
		s.log.Warn("wxtoken: rendering the sign-in form", "err", err)
	}
}

// pageHeaders are the headers of every HTML page: not cached, not framed
// by another site, no referrer sent on.
func pageHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
}
