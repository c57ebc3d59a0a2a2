package callback_test

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken/wechat/callback"
)

var sampleEvents = []callback.Event{
	{InfoType: callback.InfoSuiteTicket, SuiteID: "wwsuite01", TimeStamp: 1_800_000_000, SuiteTicket: "ticket-1"},
	{InfoType: callback.InfoCreateAuth, SuiteID: "wwsuite01", TimeStamp: 1_800_000_000, AuthCode: "code-1", State: "s"},
	{InfoType: callback.InfoChangeAuth, SuiteID: "wwsuite01", TimeStamp: 1_800_000_000, AuthCorpID: "wwcorp01"},
	{InfoType: callback.InfoCancelAuth, SuiteID: "wwsuite01", TimeStamp: 1_800_000_000, AuthCorpID: "wwcorp01"},
	{InfoType: callback.InfoComponentVerifyTicket, AppID: "wxcomp01", CreateTime: 1_800_000_000, Ticket: "ticket@@@x"},
	{InfoType: callback.InfoAuthorized, AppID: "wxcomp01", CreateTime: 1_800_000_000, AuthorizerAppID: "wxauth01",
		AuthorizationCode: "queryauthcode@@@x", AuthorizationCodeExpiredTime: 1_800_003_600},
	{InfoType: callback.InfoUnauthorized, AppID: "wxcomp01", CreateTime: 1_800_000_000, AuthorizerAppID: "wxauth01"},
}

func TestEventRoundTrip(t *testing.T) {
	for _, e := range sampleEvents {
		b, err := e.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		got, err := callback.ParseEvent(b)
		got.XMLName = e.XMLName
		if err != nil || !reflect.DeepEqual(got, e) {
			t.Fatalf("%s: %+v, %v; want %+v", e.InfoType, got, err, e)
		}
		if !got.At().Equal(time.Unix(1_800_000_000, 0)) {
			t.Fatalf("%s: At %v", e.InfoType, got.At())
		}
	}
}

// The suite_ticket push as WeCom documents it, CDATA and all.
func TestParseWeComSuiteTicket(t *testing.T) {
	e, err := callback.ParseEvent([]byte(`<xml><SuiteId><![CDATA[ww4asffe99e54c0f4c]]></SuiteId><InfoType> <![CDATA[suite_ticket]]></InfoType><TimeStamp>1403610513</TimeStamp><SuiteTicket><![CDATA[asdfasfdasdfasdf]]></SuiteTicket></xml>`))
	if err != nil || e.SuiteID != "ww4asffe99e54c0f4c" || e.SuiteTicket != "asdfasfdasdfasdf" || e.TimeStamp != 1403610513 {
		t.Fatalf("%+v, %v", e, err)
	}
}

func TestParseEventRefusals(t *testing.T) {
	for _, msg := range []string{"", "<xml>", "<xml><SuiteId>x</SuiteId></xml>", "<xml><InfoType>x</InfoType><TimeStamp>soon</TimeStamp></xml>"} {
		if _, err := callback.ParseEvent([]byte(msg)); !errors.Is(err, callback.ErrMalformed) {
			t.Errorf("%q: %v, want ErrMalformed", msg, err)
		}
	}
}
