package wechat

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// SecretBox seals the secrets a service provider keeps in the shared
// store (WeCom permanent codes, Open Platform authorizer refresh tokens)
// with AES-256-GCM, so that a reader of the store without the key learns
// nothing and a sealed value moved to another key does not open.
type SecretBox struct {
	aead cipher.AEAD
}

// ErrSealed is wrapped by Open's error for a value that does not open: a
// wrong key, a value written for another name, or a corrupt one.
var ErrSealed = errors.New("wechat: sealed secret does not open")

// NewSecretBox returns a SecretBox with a 32-byte key.
func NewSecretBox(key []byte) (*SecretBox, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("wechat: secret box key of %d bytes, want 32", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &SecretBox{aead: aead}, nil
}

// Seal encrypts secret for name (the store key it is written under, bound
// in as associated data) and returns printable text: "s1:" and base64 of
// the nonce and ciphertext.
func (b *SecretBox) Seal(name string, secret []byte) string {
	nonce := make([]byte, b.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		panic("wechat: no randomness: " + err.Error())
	}
	return "s1:" + base64.RawStdEncoding.EncodeToString(b.aead.Seal(nonce, nonce, secret, []byte(name)))
}

// Open decrypts what Seal returned for the same name.
func (b *SecretBox) Open(name, sealed string) ([]byte, error) {
	text, ok := strings.CutPrefix(sealed, "s1:")
	if !ok {
		return nil, fmt.Errorf("%w: not a sealed value", ErrSealed)
	}
	raw, err := base64.RawStdEncoding.DecodeString(text)
	if err != nil || len(raw) < b.aead.NonceSize() {
		return nil, fmt.Errorf("%w: malformed", ErrSealed)
	}
	n := b.aead.NonceSize()
	out, err := b.aead.Open(nil, raw[:n], raw[n:], []byte(name))
	if err != nil {
		return nil, fmt.Errorf("%w: wrong key, or written for another name", ErrSealed)
	}
	return out, nil
}
