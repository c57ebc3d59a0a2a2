package callback

import (
	"encoding/xml"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Window is how far a callback's timestamp may be from the receiver's
// clock. WeCom and the Open Platform stamp a push when they send it; one
// outside the window is taken for a replay.
const Window = 5 * time.Minute

// Envelope is the XML body of an encrypted callback. ToUserName (WeCom) or
// AppId (Open Platform) names the receiver; AgentID is set by WeCom for an
// app's callbacks.
type Envelope struct {
	XMLName    xml.Name `xml:"xml"`
	ToUserName string   `xml:"ToUserName,omitempty"`
	AppID      string   `xml:"AppId,omitempty"`
	AgentID    string   `xml:"AgentID,omitempty"`
	Encrypt    string   `xml:"Encrypt"`
}

// Open checks and opens a POSTed callback: the query's msg_signature,
// timestamp (within Window of now) and nonce, and the body's Encrypt. It
// returns the decrypted message (an XML document; see ParseEvent).
func (c *Crypto) Open(q url.Values, body []byte, now time.Time) ([]byte, error) {
	if len(body) > MaxBody {
		return nil, ErrTooLarge
	}
	ts, nonce, sig, err := params(q, now)
	if err != nil {
		return nil, err
	}
	var env Envelope
	if err := xml.Unmarshal(body, &env); err != nil {
		return nil, fmt.Errorf("%w: body is not the callback XML", ErrMalformed)
	}
	if env.Encrypt == "" {
		return nil, fmt.Errorf("%w: no Encrypt in the body", ErrMalformed)
	}
	if err := c.checkSignature(sig, ts, nonce, env.Encrypt); err != nil {
		return nil, err
	}
	return c.Decrypt(env.Encrypt)
}

// maxEcho bounds the plaintext of a URL verification's echostr: upstream
// sends a short random string of digits and letters.
const maxEcho = 128

// VerifyURL answers the GET WeCom sends when a callback URL is saved: it
// checks msg_signature over echostr and returns echostr decrypted, which
// the handler writes back as the response body. Only what a verification
// carries is returned: a plaintext longer than 128 bytes or with anything
// but printable ASCII other than '<', '>' and '&' (an event's XML, a
// captured push sent back as echostr) is refused like a message that did
// not open, so the route decrypts no push for whoever holds the Token.
func (c *Crypto) VerifyURL(q url.Values, now time.Time) (string, error) {
	ts, nonce, sig, err := params(q, now)
	if err != nil {
		return "", err
	}
	echo := q.Get("echostr")
	if echo == "" {
		return "", fmt.Errorf("%w: no echostr", ErrMalformed)
	}
	if len(echo) > MaxBody {
		return "", ErrTooLarge
	}
	if err := c.checkSignature(sig, ts, nonce, echo); err != nil {
		return "", err
	}
	msg, err := c.Decrypt(echo)
	if err != nil {
		return "", err
	}
	if !echoShaped(msg) {
		return "", refused(ErrMalformed, "echostr of %d bytes is not a verification's random string", len(msg))
	}
	return string(msg), nil
}

// echoShaped reports whether msg can be the plaintext of a verification.
func echoShaped(msg []byte) bool {
	if len(msg) == 0 || len(msg) > maxEcho {
		return false
	}
	for _, b := range msg {
		if b < 0x21 || b > 0x7e || b == '<' || b == '>' || b == '&' {
			return false
		}
	}
	return true
}

// Seal encrypts msg into the callback body WeCom or the Open Platform would
// POST, and returns it with the query (msg_signature, timestamp, nonce)
// that goes with it. wxsim uses it to push; a passive reply uses the same
// shape.
func (c *Crypto) Seal(msg []byte, at time.Time, nonce string) (body []byte, q url.Values, err error) {
	enc, err := c.Encrypt(msg)
	if err != nil {
		return nil, nil, err
	}
	ts := strconv.FormatInt(at.Unix(), 10)
	body, err = xml.Marshal(Envelope{ToUserName: c.receivers[0], Encrypt: enc})
	if err != nil {
		return nil, nil, err
	}
	q = url.Values{"msg_signature": {c.Signature(ts, nonce, enc)}, "timestamp": {ts}, "nonce": {nonce}}
	return body, q, nil
}

// params reads and checks the query fields every callback carries.
func params(q url.Values, now time.Time) (ts, nonce, sig string, err error) {
	ts, nonce, sig = q.Get("timestamp"), q.Get("nonce"), q.Get("msg_signature")
	if sig == "" || nonce == "" {
		return "", "", "", fmt.Errorf("%w: msg_signature and nonce are required", ErrMalformed)
	}
	if err := CheckTime(ts, now); err != nil {
		return "", "", "", err
	}
	return ts, nonce, sig, nil
}

// CheckTime refuses a timestamp (Unix seconds, as text) that is malformed
// or more than Window from now.
func CheckTime(ts string, now time.Time) error {
	sec, err := strconv.ParseInt(strings.TrimSpace(ts), 10, 64)
	if err != nil || sec <= 0 {
		return fmt.Errorf("%w: %q is not Unix seconds", ErrTimestamp, ts)
	}
	at := time.Unix(sec, 0)
	if d := at.Sub(now); d > Window || d < -Window {
		return fmt.Errorf("%w: %s is %v from this node's clock (at most %v)", ErrTimestamp,
			at.UTC().Format(time.RFC3339), d.Round(time.Second), Window)
	}
	return nil
}
