package core

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
)

// formatVersion is the version of the cache document this package writes.
const formatVersion = 1

// ErrCorrupt is wrapped by DecodeToken for a value that is not a valid
// cache document. The Manager treats such a value as a miss and overwrites
// it.
var ErrCorrupt = errors.New("core: corrupt cache value")

// maxDocumentBytes bounds what DecodeToken will parse: a cache document
// with a 512-character token is about 600 bytes.
const maxDocumentBytes = 64 << 10

type document struct {
	V           int         `json:"v"`
	AccessToken string      `json:"access_token"`
	ExpiresAt   json.Number `json:"expires_at"`
	IssuedAt    json.Number `json:"issued_at,omitempty"`
	RenewAt     json.Number `json:"renew_at,omitempty"`
	RefreshAt   json.Number `json:"refresh_at,omitempty"`
	Gen         uint64      `json:"gen,omitempty"`
}

// EncodeToken returns the cache document for t (see the package
// documentation for the format).
func EncodeToken(t Token) (string, error) {
	if t.Value == "" {
		return "", errors.New("core: cannot encode an empty token")
	}
	d := document{V: formatVersion, AccessToken: t.Value, ExpiresAt: unixNumber(t.ExpiresAt), Gen: t.Generation}
	if !t.IssuedAt.IsZero() {
		d.IssuedAt = unixNumber(t.IssuedAt)
	}
	if !t.RenewAt.IsZero() {
		d.RenewAt = unixNumber(t.RenewAt)
	}
	if !t.RefreshAt.IsZero() {
		d.RefreshAt = unixNumber(t.RefreshAt)
	}
	b, err := json.Marshal(d)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// DecodeToken parses a cache document. Any value it cannot use, including
// one with an empty token or no expiry, yields an error wrapping ErrCorrupt.
// Versions above formatVersion are read through their version-1 fields,
// which later versions keep.
func DecodeToken(s string) (Token, error) {
	if len(s) > maxDocumentBytes {
		return Token{}, fmt.Errorf("%w: %d bytes", ErrCorrupt, len(s))
	}
	var d document
	if err := json.Unmarshal([]byte(s), &d); err != nil {
		return Token{}, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if d.V < 1 {
		return Token{}, fmt.Errorf("%w: version %d", ErrCorrupt, d.V)
	}
	if d.AccessToken == "" {
		return Token{}, fmt.Errorf("%w: empty access_token", ErrCorrupt)
	}
	exp, err := parseUnix(d.ExpiresAt)
	if err != nil || exp.IsZero() {
		return Token{}, fmt.Errorf("%w: expires_at %q", ErrCorrupt, d.ExpiresAt)
	}
	t := Token{Value: d.AccessToken, ExpiresAt: exp, Generation: d.Gen}
	if t.IssuedAt, err = parseUnix(d.IssuedAt); err != nil {
		return Token{}, fmt.Errorf("%w: issued_at %q", ErrCorrupt, d.IssuedAt)
	}
	if t.RenewAt, err = parseUnix(d.RenewAt); err != nil {
		return Token{}, fmt.Errorf("%w: renew_at %q", ErrCorrupt, d.RenewAt)
	}
	if t.RefreshAt, err = parseUnix(d.RefreshAt); err != nil {
		return Token{}, fmt.Errorf("%w: refresh_at %q", ErrCorrupt, d.RefreshAt)
	}
	return t, nil
}

// unixNumber writes t as Unix seconds with up to three decimals.
func unixNumber(t time.Time) json.Number {
	ms := t.UnixMilli()
	if ms%1000 == 0 {
		return json.Number(strconv.FormatInt(ms/1000, 10))
	}
	return json.Number(strconv.FormatFloat(float64(ms)/1000, 'f', -1, 64))
}

// parseUnix reads Unix seconds, whole or fractional, from year 2000 to
// 3000; anything else is refused rather than guessed at.
func parseUnix(n json.Number) (time.Time, error) {
	if n == "" {
		return time.Time{}, nil
	}
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil {
		return time.Time{}, err
	}
	if math.IsNaN(f) || f < 946684800 || f > 32503680000 {
		return time.Time{}, fmt.Errorf("out of range")
	}
	return time.UnixMilli(int64(math.Round(f * 1000))), nil
}
