package server

import (
	"net"
	"net/http"
	"strconv"
	"strings"
)

// A server without client keys (insecure_no_auth, which must listen on
// loopback) answers 421 to every request whose Host header is not a
// loopback name or address. Such a server is reachable by the pages of
// any site the machine's browser opens, through DNS rebinding
// (evil.example resolves to 127.0.0.1 for a moment, and its script's
// requests are same-origin to the page); those requests still name
// evil.example in Host. Without the check, the embedded demo would hand
// its tokens to any web page. A server with client keys gives such a page
// nothing without a key, and is not checked: it may sit on loopback
// behind a local reverse proxy that forwards the public Host.
func (s *Server) loopbackHostsOnly(next http.Handler) http.Handler {
	if !s.cfg.InsecureNoAuth {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !loopbackHost(r.Host) {
			writeError(w, http.StatusMisdirectedRequest, CodeMisdirected,
				"this server listens on loopback and answers only requests addressed to localhost or a loopback address")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// loopbackHost reports whether a Host header names this machine's
// loopback: localhost (or a name under .localhost, which resolvers keep
// on loopback), or a loopback address, with a numeric port or none.
func loopbackHost(hostport string) bool {
	host := hostport
	if h, port, err := net.SplitHostPort(hostport); err == nil {
		if _, err := strconv.ParseUint(port, 10, 16); err != nil {
			return false
		}
		host = h
	}
	host = strings.TrimSuffix(strings.ToLower(strings.Trim(host, "[]")), ".")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
