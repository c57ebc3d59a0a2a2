package callback

import (
	"encoding/xml"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Info types a token server acts on.
const (
	// WeCom third-party app (suite) instructions.
	InfoSuiteTicket = "suite_ticket"
	InfoCreateAuth  = "create_auth"
	InfoChangeAuth  = "change_auth"
	InfoCancelAuth  = "cancel_auth"
	// WeChat Open Platform (third-party platform) notices.
	InfoComponentVerifyTicket = "component_verify_ticket"
	InfoAuthorized            = "authorized"
	InfoUpdateAuthorized      = "updateauthorized"
	InfoUnauthorized          = "unauthorized"
)

// Event is a decrypted instruction callback of a WeCom suite or a notice of
// an Open Platform component. Fields a type does not carry are empty.
type Event struct {
	XMLName  xml.Name `xml:"xml"`
	InfoType string   `xml:"InfoType"`
	// WeCom: the suite, and the push time in Unix seconds.
	SuiteID   string `xml:"SuiteId,omitempty"`
	TimeStamp int64  `xml:"TimeStamp,omitempty"`
	// Open Platform: the component appid, and the push time.
	AppID      string `xml:"AppId,omitempty"`
	CreateTime int64  `xml:"CreateTime,omitempty"`

	SuiteTicket string `xml:"SuiteTicket,omitempty"`           // suite_ticket
	AuthCode    string `xml:"AuthCode,omitempty"`              // create_auth: a one-time code for get_permanent_code
	AuthCorpID  string `xml:"AuthCorpId,omitempty"`            // change_auth, cancel_auth
	State       string `xml:"State,omitempty"`                 // create_auth, change_auth: the install link's state
	Ticket      string `xml:"ComponentVerifyTicket,omitempty"` // component_verify_ticket
	// authorized, updateauthorized, unauthorized
	AuthorizerAppID   string `xml:"AuthorizerAppid,omitempty"`
	AuthorizationCode string `xml:"AuthorizationCode,omitempty"`
	// AuthorizationCodeExpiredTime is Unix seconds.
	AuthorizationCodeExpiredTime int64 `xml:"AuthorizationCodeExpiredTime,omitempty"`
}

// ParseEvent parses a decrypted callback message. It refuses one without
// an InfoType, or over MaxBody.
func ParseEvent(msg []byte) (Event, error) {
	if len(msg) > MaxBody {
		return Event{}, ErrTooLarge
	}
	var e Event
	if err := xml.Unmarshal(msg, &e); err != nil {
		return Event{}, fmt.Errorf("%w: the message is not callback XML", ErrMalformed)
	}
	e.InfoType = strings.TrimSpace(e.InfoType)
	if e.InfoType == "" {
		return Event{}, fmt.Errorf("%w: no InfoType", ErrMalformed)
	}
	return e, nil
}

// At is the event's push time: TimeStamp (WeCom) or CreateTime (Open
// Platform); zero when it has neither.
func (e Event) At() time.Time {
	switch {
	case e.TimeStamp > 0:
		return time.Unix(e.TimeStamp, 0)
	case e.CreateTime > 0:
		return time.Unix(e.CreateTime, 0)
	}
	return time.Time{}
}

// Marshal encodes the event as the XML WeCom or the Open Platform sends,
// with only its non-empty fields. wxsim uses it to push.
func (e Event) Marshal() ([]byte, error) { return xml.Marshal(e) }

// OpenEvent is Open followed by ParseEvent: the event a POSTed callback
// carries, or why it was refused. A message that opened but does not parse
// is refused as one that did not open (ErrOpen's text; see Reason).
func (c *Crypto) OpenEvent(q url.Values, body []byte, now time.Time) (Event, error) {
	msg, err := c.Open(q, body, now)
	if err != nil {
		return Event{}, err
	}
	e, err := ParseEvent(msg)
	if err != nil {
		return Event{}, refused(ErrMalformed, "%v", err)
	}
	return e, nil
}
