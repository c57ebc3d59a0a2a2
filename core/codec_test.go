package core_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken/core"
)

func TestCodecRoundTrip(t *testing.T) {
	tok := core.Token{
		Value:     strings.Repeat("A", 512),
		IssuedAt:  time.UnixMilli(1763992800000),
		ExpiresAt: time.UnixMilli(1764000000123),
	}
	doc, err := core.EncodeToken(tok)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(doc, `"v":1`) || !strings.Contains(doc, `"expires_at":1764000000.123`) || !strings.Contains(doc, `"issued_at":1763992800`) {
		t.Fatalf("document %s does not follow the documented format", doc)
	}
	got, err := core.DecodeToken(doc)
	if err != nil {
		t.Fatal(err)
	}
	if got.Value != tok.Value || !got.ExpiresAt.Equal(tok.ExpiresAt) || !got.IssuedAt.Equal(tok.IssuedAt) {
		t.Fatalf("round trip changed the token: %+v", got)
	}
}

// What a program in another language writes must be read: integer
// seconds, no issued_at, a later version with extra fields.
func TestDecodeForeignDocuments(t *testing.T) {
	for _, doc := range []string{
		`{"v":1,"access_token":"abc","expires_at":1764000000}`,
		`{"v":1,"access_token":"abc","expires_at":1764000000,"issued_at":1763992800}`,
		`{"v":2,"access_token":"abc","expires_at":1764000000,"refresh_token":"x"}`,
	} {
		tok, err := core.DecodeToken(doc)
		if err != nil || tok.Value != "abc" || tok.ExpiresAt.Unix() != 1764000000 {
			t.Errorf("DecodeToken(%s) = %+v, %v", doc, tok, err)
		}
	}
}

func TestDecodeRefusesCorruptValues(t *testing.T) {
	for _, doc := range []string{
		``, `null`, `[]`, `"abc"`, `{}`, `not json`,
		`{"v":0,"access_token":"abc","expires_at":1764000000}`,
		`{"v":1,"access_token":"","expires_at":1764000000}`,
		`{"v":1,"access_token":"abc"}`,
		`{"v":1,"access_token":"abc","expires_at":"soon"}`,
		`{"v":1,"access_token":"abc","expires_at":1e300}`,
		`{"v":1,"access_token":"abc","expires_at":-5}`,
		`{"errcode":40001,"errmsg":"invalid credential"}`,
		`{"access_token":"abc","expires_in":7200}`,
		`{"v":1,"access_token":"abc","expires_at":1764000000,"issued_at":"x"}`,
		strings.Repeat(" ", 70<<10),
	} {
		if _, err := core.DecodeToken(doc); !errors.Is(err, core.ErrCorrupt) {
			t.Errorf("DecodeToken(%.40q) = %v, want ErrCorrupt", doc, err)
		}
	}
}

func TestEncodeRefusesEmptyToken(t *testing.T) {
	if _, err := core.EncodeToken(core.Token{ExpiresAt: time.Now()}); err == nil {
		t.Fatal("an empty token was encoded")
	}
}

// FuzzDecodeToken: any input either decodes to a usable token that
// survives a round trip, or is refused with ErrCorrupt; never a panic.
func FuzzDecodeToken(f *testing.F) {
	for _, s := range []string{
		`{"v":1,"access_token":"abc","expires_at":1764000000.123,"issued_at":1763992800}`,
		`{"v":1,"access_token":"abc","expires_at":1764000000}`,
		`{"v":2,"access_token":"x","expires_at":2000000000,"extra":[1,2]}`,
		`{"v":1,"access_token":"abc","expires_at":1e300}`,
		`{"errcode":40001}`, `{`, ``, `null`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := core.DecodeToken(s)
		if err != nil {
			if !errors.Is(err, core.ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		if tok.Value == "" || tok.ExpiresAt.IsZero() {
			t.Fatalf("decoded an unusable token %+v from %q", tok, s)
		}
		doc, err := core.EncodeToken(tok)
		if err != nil {
			t.Fatalf("re-encoding %+v: %v", tok, err)
		}
		again, err := core.DecodeToken(doc)
		if err != nil || again.Value != tok.Value || !again.ExpiresAt.Equal(tok.ExpiresAt) {
			t.Fatalf("round trip of %q: %+v, %v", s, again, err)
		}
		if !json.Valid([]byte(doc)) {
			t.Fatalf("encoded invalid JSON %q", doc)
		}
	})
}
