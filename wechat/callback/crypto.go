// Package callback receives the encrypted callbacks WeCom and the WeChat
// Open Platform push to a service provider: the message crypto both share
// (WXBizMsgCrypt: a SHA-1 signature and AES-256-CBC with a key from the
// 43-character EncodingAESKey), URL verification, and the events a token
// server acts on (suite_ticket, create_auth, change_auth, cancel_auth;
// component_verify_ticket, authorized, updateauthorized, unauthorized).
//
// A message is refused, with an error wrapping one of the Err values, when
// its signature is wrong, its timestamp is more than Window from the
// receiver's clock (a replay), its ciphertext or padding is malformed, it
// was sealed for another receiver, or its body is over MaxBody.
//
// Every failure after the signature check has one error text (ErrOpen's):
// a caller that hands err.Error() to the sender cannot be used as a
// padding oracle. The reason, for logs and metrics only, is Reason(err);
// errors.Is still tells ErrMalformed, ErrReceiver and ErrTooLarge apart.
package callback

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// blockSize is the PKCS#7 block the scheme pads to: 32 bytes, not AES's 16.
const blockSize = 32

// MaxBody is the largest callback body (and decrypted message) accepted.
const MaxBody = 64 << 10

var (
	// ErrSignature: the msg_signature does not match.
	ErrSignature = errors.New("callback: signature mismatch")
	// ErrTimestamp: the timestamp is missing, malformed or outside Window.
	ErrTimestamp = errors.New("callback: timestamp refused")
	// ErrMalformed: the body, ciphertext, padding or length is malformed.
	ErrMalformed = errors.New("callback: malformed message")
	// ErrReceiver: the message was sealed for another receiver id.
	ErrReceiver = errors.New("callback: message for another receiver")
	// ErrTooLarge: the body is larger than MaxBody.
	ErrTooLarge = errors.New("callback: body too large")
	// ErrKey: the EncodingAESKey is not 43 base64 characters.
	ErrKey = errors.New("callback: bad EncodingAESKey")
	// ErrOpen: a message whose signature matched could not be opened (its
	// ciphertext, padding, length, receiver or plaintext is wrong). Every
	// such error has this text and no other; see Reason.
	ErrOpen = errors.New("callback: the message could not be opened")
)

// openError is a failure after the signature check: one text for all,
// the reason kept apart.
type openError struct {
	kind   error // ErrMalformed, ErrReceiver or ErrTooLarge
	reason string
}

func (e *openError) Error() string { return ErrOpen.Error() }

func (e *openError) Is(target error) bool { return target == ErrOpen || target == e.kind }

// refused returns the uniform error of a message that could not be opened.
func refused(kind error, reason string, args ...any) error {
	return &openError{kind: kind, reason: fmt.Sprintf(reason, args...)}
}

// Reason is the detail of an error from Decrypt, Open, OpenEvent or
// VerifyURL, for a log line or a metric: never for the message's sender.
// For other errors it is err.Error().
func Reason(err error) string {
	var oe *openError
	if errors.As(err, &oe) {
		return oe.reason
	}
	if err == nil {
		return ""
	}
	return err.Error()
}

// Crypto seals and opens the messages of one callback: its Token and
// EncodingAESKey, as configured on WeCom's or the Open Platform's console,
// and the receiver ids it accepts (a suite id and the provider's corp id
// for WeCom; the component appid for the Open Platform).
type Crypto struct {
	token     string
	key       []byte
	receivers []string
}

// New returns the Crypto of a callback. receivers are the ids a message may
// carry; the first is the one Seal writes. At least one is needed.
func New(token, encodingAESKey string, receivers ...string) (*Crypto, error) {
	if token == "" {
		return nil, errors.New("callback: empty token")
	}
	if len(receivers) == 0 || slices.Contains(receivers, "") {
		return nil, errors.New("callback: a receiver id is needed (suite id, corp id or component appid)")
	}
	if len(encodingAESKey) != 43 {
		return nil, fmt.Errorf("%w: %d characters, want 43", ErrKey, len(encodingAESKey))
	}
	key, err := base64.StdEncoding.DecodeString(encodingAESKey + "=")
	if err != nil || len(key) != 32 {
		return nil, fmt.Errorf("%w: not base64 of 32 bytes", ErrKey)
	}
	return &Crypto{token: token, key: key, receivers: receivers}, nil
}

// Signature is the msg_signature of an encrypted message: the hex SHA-1 of
// the token, timestamp, nonce and ciphertext, sorted and joined.
func (c *Crypto) Signature(timestamp, nonce, encrypted string) string {
	parts := []string{c.token, timestamp, nonce, encrypted}
	slices.Sort(parts)
	sum := sha1.Sum([]byte(strings.Join(parts, "")))
	return hex.EncodeToString(sum[:])
}

// checkSignature compares in constant time.
func (c *Crypto) checkSignature(sig, timestamp, nonce, encrypted string) error {
	want := c.Signature(timestamp, nonce, encrypted)
	if subtle.ConstantTimeCompare([]byte(strings.ToLower(sig)), []byte(want)) != 1 {
		return ErrSignature
	}
	return nil
}

// Encrypt seals msg for the first receiver: 16 random bytes, the length in
// 4 bytes network order, msg and the receiver id, PKCS#7-padded to 32
// bytes, AES-256-CBC with the key's first 16 bytes as IV, in base64.
func (c *Crypto) Encrypt(msg []byte) (string, error) {
	var random [16]byte
	if _, err := rand.Read(random[:]); err != nil {
		return "", err
	}
	return c.encrypt(random, msg), nil
}

func (c *Crypto) encrypt(random [16]byte, msg []byte) string {
	var plain bytes.Buffer
	plain.Write(random[:])
	_ = binary.Write(&plain, binary.BigEndian, uint32(len(msg)))
	plain.Write(msg)
	plain.WriteString(c.receivers[0])
	pad := blockSize - plain.Len()%blockSize
	plain.Write(bytes.Repeat([]byte{byte(pad)}, pad))
	block, _ := aes.NewCipher(c.key) // 32 bytes: cannot fail
	out := make([]byte, plain.Len())
	cipher.NewCBCEncrypter(block, c.key[:aes.BlockSize]).CryptBlocks(out, plain.Bytes())
	return base64.StdEncoding.EncodeToString(out)
}

// Decrypt opens a ciphertext and returns the message, refusing bad base64,
// a length that is not whole blocks, bad padding, a length field that
// overruns, and a receiver id not among the Crypto's, all with one error
// text (ErrOpen's; see Reason). The padding is checked in constant time.
// It does not check a signature: Open and VerifyURL do.
func (c *Crypto) Decrypt(encrypted string) ([]byte, error) {
	if len(encrypted) > MaxBody*4/3+4 {
		return nil, refused(ErrTooLarge, "ciphertext over %d bytes", MaxBody)
	}
	raw, err := base64.StdEncoding.DecodeString(encrypted)
	if err != nil {
		return nil, refused(ErrMalformed, "ciphertext is not base64")
	}
	if len(raw) == 0 || len(raw)%aes.BlockSize != 0 {
		return nil, refused(ErrMalformed, "ciphertext of %d bytes is not whole blocks", len(raw))
	}
	if len(raw) > MaxBody {
		return nil, refused(ErrTooLarge, "ciphertext of %d bytes", len(raw))
	}
	block, _ := aes.NewCipher(c.key)
	plain := make([]byte, len(raw))
	cipher.NewCBCDecrypter(block, c.key[:aes.BlockSize]).CryptBlocks(plain, raw)
	pad, ok := unpad(plain)
	if !ok {
		return nil, refused(ErrMalformed, "bad padding")
	}
	plain = plain[:len(plain)-pad]
	if len(plain) < 20 {
		return nil, refused(ErrMalformed, "message too short")
	}
	n := binary.BigEndian.Uint32(plain[16:20])
	if uint64(n) > uint64(len(plain)-20) {
		return nil, refused(ErrMalformed, "the length field overruns the message")
	}
	msg, receiver := plain[20:20+n], string(plain[20+n:])
	if !slices.Contains(c.receivers, receiver) {
		return nil, refused(ErrReceiver, "message for another receiver")
	}
	return msg, nil
}

// unpad checks the PKCS#7 padding (to blockSize) of plain in time that
// depends only on len(plain), and returns its length.
func unpad(plain []byte) (int, bool) {
	pad := int(plain[len(plain)-1])
	good := subtle.ConstantTimeLessOrEq(1, pad) & subtle.ConstantTimeLessOrEq(pad, min(blockSize, len(plain)))
	tail := plain[max(len(plain)-blockSize, 0):]
	for i, b := range tail {
		// Bytes within the padding must equal pad; the others are free.
		inPad := subtle.ConstantTimeLessOrEq(len(tail)-i, pad)
		good &= subtle.ConstantTimeSelect(inPad, subtle.ConstantTimeByteEq(b, byte(pad)), 1)
	}
	return pad, good == 1
}
