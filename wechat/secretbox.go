package wechat

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// SecretBox seals the secrets a service provider keeps in the shared
// store (WeCom permanent codes, Open Platform authorizer refresh tokens)
// with AES-256-GCM, so that a reader of the store without the key learns
// nothing and a sealed value moved to another key does not open.
//
// A SecretBox holds a key ring, newest key first (NewKeyRing): Seal uses
// the newest, Open any of them, so a leaked key is rotated by putting a
// new one first, resealing what is stored (Reseal), and then dropping the
// old one.
type SecretBox struct {
	keys []boxKey // newest first
}

type boxKey struct {
	id   string // KeyID of the key
	aead cipher.AEAD
}

// ErrSealed is wrapped by Open's error for a value that does not open: a
// wrong key, a value written for another name, or a corrupt one.
var ErrSealed = errors.New("wechat: sealed secret does not open")

// NewSecretBox returns a SecretBox with one 32-byte key.
func NewSecretBox(key []byte) (*SecretBox, error) { return NewKeyRing(key) }

// NewKeyRing returns a SecretBox over several 32-byte keys, the newest
// first: Seal uses keys[0], Open any of them.
func NewKeyRing(keys ...[]byte) (*SecretBox, error) {
	if len(keys) == 0 {
		return nil, errors.New("wechat: a key ring needs at least one key")
	}
	b := &SecretBox{}
	seen := map[string]bool{}
	for i, key := range keys {
		if len(key) != 32 {
			return nil, fmt.Errorf("wechat: secret box key %d of %d bytes, want 32", i+1, len(key))
		}
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		id := keyID(key)
		if seen[id] {
			return nil, fmt.Errorf("wechat: secret box key %d is a repeat of an earlier one", i+1)
		}
		seen[id] = true
		b.keys = append(b.keys, boxKey{id: id, aead: aead})
	}
	return b, nil
}

// keyID names a key without revealing it: the first 4 bytes of a SHA-256
// of it, in hex.
func keyID(key []byte) string {
	sum := sha256.Sum256(append([]byte("wxtoken secret box key id\x00"), key...))
	return hex.EncodeToString(sum[:4])
}

// KeyID returns the id of the newest key, which Seal uses: eight hex
// digits that name it in logs and reports and reveal nothing of it.
func (b *SecretBox) KeyID() string { return b.keys[0].id }

// Seal encrypts secret for name (the store key it is written under, bound
// in as associated data) with the newest key, and returns printable text:
// "s2:", the key's id, ":" and base64 of the nonce and ciphertext.
func (b *SecretBox) Seal(name string, secret []byte) string {
	k := b.keys[0]
	nonce := make([]byte, k.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		panic("wechat: no randomness: " + err.Error())
	}
	return "s2:" + k.id + ":" + base64.RawStdEncoding.EncodeToString(k.aead.Seal(nonce, nonce, secret, []byte(name)))
}

// Open decrypts what Seal returned for the same name, with whichever key
// of the ring sealed it. Values sealed before key ids existed ("s1:")
// are tried with every key.
func (b *SecretBox) Open(name, sealed string) ([]byte, error) {
	keys, text, err := b.keysFor(sealed)
	if err != nil {
		return nil, err
	}
	raw, err := base64.RawStdEncoding.DecodeString(text)
	if err != nil {
		return nil, fmt.Errorf("%w: malformed", ErrSealed)
	}
	for _, k := range keys {
		n := k.aead.NonceSize()
		if len(raw) < n {
			return nil, fmt.Errorf("%w: malformed", ErrSealed)
		}
		if out, err := k.aead.Open(nil, raw[:n], raw[n:], []byte(name)); err == nil {
			return out, nil
		}
	}
	return nil, fmt.Errorf("%w: wrong key, or written for another name", ErrSealed)
}

// keysFor returns the keys that may open sealed, and its ciphertext.
func (b *SecretBox) keysFor(sealed string) ([]boxKey, string, error) {
	if text, ok := strings.CutPrefix(sealed, "s1:"); ok {
		return b.keys, text, nil
	}
	rest, ok := strings.CutPrefix(sealed, "s2:")
	id, text, ok2 := strings.Cut(rest, ":")
	if !ok || !ok2 {
		return nil, "", fmt.Errorf("%w: not a sealed value", ErrSealed)
	}
	for _, k := range b.keys {
		if k.id == id {
			return []boxKey{k}, text, nil
		}
	}
	return nil, "", fmt.Errorf("%w: sealed with key %s, which is not in the ring", ErrSealed, id)
}

// Current reports whether sealed was sealed with the newest key.
func (b *SecretBox) Current(sealed string) bool {
	return strings.HasPrefix(sealed, "s2:"+b.keys[0].id+":")
}

// Reseal returns sealed sealed again with the newest key, and true, if
// another key of the ring sealed it; sealed itself and false if the
// newest did.
func (b *SecretBox) Reseal(name, sealed string) (string, bool, error) {
	if b.Current(sealed) {
		return sealed, false, nil
	}
	secret, err := b.Open(name, sealed)
	if err != nil {
		return "", false, err
	}
	return b.Seal(name, secret), true, nil
}
