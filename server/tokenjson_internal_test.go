package server

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"testing"
)

// writeTokenJSON writes what encoding/json writes, for plain values and
// for values it must escape.
func TestWriteTokenJSONIsEncodingJSON(t *testing.T) {
	for _, resp := range []TokenResponse{
		{AccessToken: "95_AbC-dEf_0123456789", ExpiresIn: 7199, ExpiresAt: "2026-12-03T12:00:00Z"},
		{Ticket: "kgt8ON7yVITDhtdwci0qeQ", ExpiresIn: 0, ExpiresAt: "2026-12-03T12:00:00Z"},
		{AccessToken: `a"b\c<d>&e` + "\x01é", ExpiresIn: -3, ExpiresAt: "x"},
		{},
	} {
		rec := httptest.NewRecorder()
		writeTokenJSON(rec, resp)
		var want bytes.Buffer
		json.NewEncoder(&want).Encode(resp)
		if rec.Body.String() != want.String() || rec.Code != 200 || rec.Header().Get("Content-Type") != "application/json; charset=utf-8" || rec.Header().Get("Cache-Control") != "no-store" {
			t.Errorf("%+v: wrote %d %q %v, encoding/json writes %q", resp, rec.Code, rec.Body.String(), rec.Header(), want.String())
		}
	}
}
