package callback_test

import (
	"bytes"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken/wechat/callback"
)

// The decryptor takes any ciphertext without panicking, and anything it
// opens was sealed for its receiver and fits in MaxBody. Every refusal
// has ErrOpen's text, whatever its reason: no padding oracle.
func FuzzDecrypt(f *testing.F) {
	c := newCrypto(f, "wwsuite01")
	for _, msg := range []string{"", "<xml><InfoType>suite_ticket</InfoType></xml>", "1616140317555161061"} {
		enc, _ := c.Encrypt([]byte(msg))
		f.Add(enc)
	}
	f.Add("P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ==")
	f.Add("AAAAAAAAAAAAAAAAAAAAAA==")
	f.Fuzz(func(t *testing.T, enc string) {
		msg, err := c.Decrypt(enc)
		if err != nil {
			if msg != nil {
				t.Fatal("a refusal returned a message")
			}
			if !errors.Is(err, callback.ErrMalformed) && !errors.Is(err, callback.ErrReceiver) && !errors.Is(err, callback.ErrTooLarge) {
				t.Fatalf("a refusal of no known kind: %v", err)
			}
			if err.Error() != callback.ErrOpen.Error() || !errors.Is(err, callback.ErrOpen) {
				t.Fatalf("a refusal with its own text %q (reason %q): an oracle", err, callback.Reason(err))
			}
			return
		}
		if len(msg) > callback.MaxBody {
			t.Fatalf("opened %d bytes", len(msg))
		}
	})
}

// Open takes any body and query values without panicking; a body it
// accepts carries a signature made with the token.
func FuzzOpen(f *testing.F) {
	c := newCrypto(f, "wwsuite01")
	now := time.Unix(1_800_000_000, 0)
	body, q, _ := c.Seal([]byte("<xml><InfoType>create_auth</InfoType><AuthCode>a</AuthCode></xml>"), now, "n1")
	f.Add(body, q.Get("msg_signature"), q.Get("timestamp"), q.Get("nonce"))
	f.Add([]byte("<xml><Encrypt><![CDATA[x]]></Encrypt></xml>"), "00", "1800000000", "n")
	f.Add([]byte("<xml><Encrypt>"), "", "", "")
	f.Add([]byte("<!DOCTYPE x [<!ENTITY a \"aaaa\">]><xml><Encrypt>&a;</Encrypt></xml>"), "s", "1800000000", "n")
	f.Fuzz(func(t *testing.T, body []byte, sig, ts, nonce string) {
		q := url.Values{"msg_signature": {sig}, "timestamp": {ts}, "nonce": {nonce}}
		msg, err := c.Open(q, body, now)
		if err == nil && msg == nil {
			t.Fatal("accepted with no message")
		}
	})
}

// ParseEvent takes any decrypted message without panicking, and an event
// it parses survives Marshal and ParseEvent again unchanged.
func FuzzParseEvent(f *testing.F) {
	for _, e := range sampleEvents {
		b, _ := e.Marshal()
		f.Add(b)
	}
	f.Add([]byte("<xml><InfoType><![CDATA[suite_ticket]]></InfoType><SuiteTicket><![CDATA[t]]></SuiteTicket></xml>"))
	f.Add([]byte("<xml><InfoType>x</InfoType><TimeStamp>-1</TimeStamp></xml>"))
	f.Add([]byte("<xml"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		e, err := callback.ParseEvent(msg)
		if err != nil {
			return
		}
		b, err := e.Marshal()
		if err != nil {
			t.Fatalf("an event parsed from %q does not marshal: %v", msg, err)
		}
		again, err := callback.ParseEvent(b)
		if err != nil {
			t.Fatalf("a marshalled event does not parse: %v\n%s", err, b)
		}
		b2, _ := again.Marshal()
		if !bytes.Equal(b, b2) {
			t.Fatalf("not stable through a round trip:\n%s\n%s", b, b2)
		}
	})
}

// VerifyURL returns only what a verification carries: whatever the
// plaintext sealed (and signed with the Token), what comes back is at most
// 128 printable bytes with no markup, and every refusal after the
// signature has one text.
func FuzzVerifyURL(f *testing.F) {
	c := newCrypto(f, "wwsuite01")
	now := time.Unix(1_800_000_000, 0)
	for _, msg := range []string{"1616140317555161061", "<xml><AuthCode>a</AuthCode></xml>", "", "a b", strings.Repeat("9", 200)} {
		f.Add([]byte(msg))
	}
	f.Fuzz(func(t *testing.T, plain []byte) {
		enc, err := c.Encrypt(plain)
		if err != nil {
			t.Skip()
		}
		ts := "1800000000"
		q := url.Values{"msg_signature": {c.Signature(ts, "n", enc)}, "timestamp": {ts}, "nonce": {"n"}, "echostr": {enc}}
		echo, err := c.VerifyURL(q, now)
		if err != nil {
			if err.Error() != callback.ErrOpen.Error() {
				t.Fatalf("a refusal after the signature with its own text: %v", err)
			}
			return
		}
		if echo != string(plain) || len(echo) > 128 || strings.ContainsAny(echo, "<>& \t\r\n") {
			t.Fatalf("VerifyURL returned %q for %q", echo, plain)
		}
	})
}
