package server

import (
	"net/http"
	"strconv"
	"sync"
)

// writeTokenJSON answers 200 with resp, byte for byte what writeJSON
// (encoding/json) writes, without reflection: it is the body of every
// token answer. A value with a character JSON escapes goes through
// encoding/json.
func writeTokenJSON(w http.ResponseWriter, resp TokenResponse) {
	if !plainJSON(resp.AccessToken) || !plainJSON(resp.Ticket) || !plainJSON(resp.ExpiresAt) {
		writeJSON(w, http.StatusOK, resp)
		return
	}
	bp := tokenBufs.Get().(*[]byte)
	b := (*bp)[:0]
	b = append(b, '{')
	if resp.AccessToken != "" {
		b = append(append(append(b, `"access_token":"`...), resp.AccessToken...), `",`...)
	}
	if resp.Ticket != "" {
		b = append(append(append(b, `"ticket":"`...), resp.Ticket...), `",`...)
	}
	b = strconv.AppendInt(append(b, `"expires_in":`...), resp.ExpiresIn, 10)
	b = append(append(append(b, `,"expires_at":"`...), resp.ExpiresAt...), "\"}\n"...)
	jsonHeaders(w)
	w.WriteHeader(http.StatusOK)
	w.Write(b)
	*bp = b
	tokenBufs.Put(bp)
}

var tokenBufs = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// plainJSON reports whether encoding/json writes s between quotes as it
// is: printable ASCII without '"', '\\' and the HTML characters it
// escapes (<, >, &).
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c > 0x7e, c == '"', c == '\\', c == '<', c == '>', c == '&':
			return false
		}
	}
	return true
}
