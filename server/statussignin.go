package server

import (
	_ "embed"
	"html/template"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"
)

// A person opens the status page in a browser, which cannot send a bearer
// key: they sign in once with a client key through a form, and get a
// session cookie (statussession.go) that names their client for
// statusSessionTTL.
//
// The cookie is HttpOnly (no script reads it) and SameSite=Strict (no
// other site's page sends it). Over HTTPS (TLS here, or a trusted proxy's
// X-Forwarded-Proto) it is Secure and named with the __Host- prefix, so
// that no plain-HTTP page or other subdomain can set or read it; over
// plain HTTP nothing could keep it secret, so it is neither. The form's
// POST refuses cross-origin requests (http.CrossOriginProtection), so no
// other site can sign a visitor in or out; the page itself only reads.
// Wrong keys spend the address's budget of guesses (keyguesses.go).
const (
	statusCookie       = "wxtoken_status"
	statusCookieSecure = "__Host-wxtoken_status"
	statusSessionTTL   = 30 * time.Minute
)

//go:embed signin.html
var signInHTML string

var signInTmpl = template.Must(template.New("signin").Parse(signInHTML))

// overHTTPS reports whether r reached this server over HTTPS: TLS here,
// or a trusted proxy that says so.
func (s *Server) overHTTPS(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	peer, err := netip.ParseAddr(host)
	return err == nil && s.proxies.trusted(peer) && strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

// cookieName is the session cookie's name for r's scheme.
func (s *Server) cookieName(r *http.Request) string {
	if s.overHTTPS(r) {
		return statusCookieSecure
	}
	return statusCookie
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
	name, found := s.bearerClient(r)
	switch {
	case found == keyLimited:
		s.signInForm(w, http.StatusTooManyRequests, tooManyKeys)
		return
	case found == keyAbsent && r.Header.Get("Authorization") == "":
		if c, cerr := r.Cookie(s.cookieName(r)); cerr == nil {
			var err error
			if name, err = s.sessions.open(r.Context(), s.clients, c.Value, time.Now()); err != nil {
				s.log.Warn("wxtoken: status page: checking a session", "err", err)
				s.signInForm(w, http.StatusServiceUnavailable, storeDown)
				return
			}
		}
	}
	if name == "" {
		s.signInForm(w, http.StatusUnauthorized, "")
		return
	}
	s.handleStatus(w, withClient(w, r, name))
}

const (
	tooManyKeys = "Too many wrong keys from this address. Try again in a few minutes."
	storeDown   = "The store does not answer; try again shortly."
)

// handleSignIn checks the key a person typed and, when it is a client's,
// sets the session cookie and sends them to the page.
func (s *Server) handleSignIn(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	key := ""
	if err := r.ParseForm(); err == nil {
		key = r.PostForm.Get("key")
	}
	name, found := s.checkKey(r, key)
	switch found {
	case keyLimited:
		s.signInForm(w, http.StatusTooManyRequests, tooManyKeys)
		return
	case keyOK:
	default:
		s.signInForm(w, http.StatusUnauthorized, "That is not a client key of this server.")
		return
	}
	withClient(w, r, name) // for the request log
	value, err := s.sessions.seal(r.Context(), s.clients, name, time.Now().Add(statusSessionTTL))
	if err != nil {
		s.log.Warn("wxtoken: status page: making a session", "err", err)
		s.signInForm(w, http.StatusServiceUnavailable, storeDown)
		return
	}
	http.SetCookie(w, s.sessionCookie(r, value, int(statusSessionTTL/time.Second)))
	toPage(w)
}

// handleSignOut ends the session of this browser: its cookie is dropped
// and its ID recorded as ended, so that no copy of it opens the page.
// The browser drops the cookie even when the store cannot record the end.
func (s *Server) handleSignOut(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, s.sessionCookie(r, "", -1))
	if c, err := r.Cookie(s.cookieName(r)); err == nil {
		if err := s.sessions.end(r.Context(), s.clients, c.Value, time.Now()); err != nil {
			s.log.Warn("wxtoken: status page: signing out", "err", err)
			s.signInForm(w, http.StatusServiceUnavailable,
				"Signed out in this browser, but the store does not answer: a copy of the session would still open the page until it ends.")
			return
		}
	}
	toPage(w)
}

// toPage sends the browser to the status page, relative to where the form
// was (http.Redirect would make it absolute, "/", which is not the page's
// address behind a proxy serving wxtoken under a path prefix).
func toPage(w http.ResponseWriter) {
	w.Header().Set("Location", "./")
	w.WriteHeader(http.StatusSeeOther)
}

func (s *Server) sessionCookie(r *http.Request, value string, maxAge int) *http.Cookie {
	secure := s.overHTTPS(r)
	return &http.Cookie{Name: s.cookieName(r), Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: secure, SameSite: http.SameSiteStrictMode}
}

// signInForm answers code with the form; message says why the last try
// failed ("" for none). It says nothing of which clients exist.
func (s *Server) signInForm(w http.ResponseWriter, code int, message string) {
	pageHeaders(w)
	switch code {
	case http.StatusUnauthorized:
		w.Header().Set("WWW-Authenticate", `Bearer realm="wxtoken"`)
	case http.StatusTooManyRequests:
		w.Header().Set("Retry-After", tooManyGuesses)
	}
	w.WriteHeader(code)
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
