package callback_test

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken/wechat/callback"
)

// WeCom's published sample (the WXBizMsgCrypt samples of every language):
// the URL verification GET of a callback saved on the console.
func TestWeComSampleVerifyURL(t *testing.T) {
	c, err := callback.New("QDG6eK", "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C", "wx5823bf96d3bd56c7")
	if err != nil {
		t.Fatal(err)
	}
	q := url.Values{"msg_signature": {"5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3"}, "timestamp": {"1409659589"},
		"nonce": {"263014780"}, "echostr": {"P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ=="}}
	echo, err := c.VerifyURL(q, time.Unix(1409659589, 0))
	if err != nil || echo != "1616140317555161061" {
		t.Fatalf("VerifyURL of WeCom's sample = %q, %v; want 1616140317555161061", echo, err)
	}
	// The same request a day later is a replay.
	if _, err := c.VerifyURL(q, time.Unix(1409659589+86400, 0)); !errors.Is(err, callback.ErrTimestamp) {
		t.Fatalf("the sample a day later: %v, want ErrTimestamp", err)
	}
}

// The official accounts' published sample (WeChat's WXBizMsgCrypt
// Sample.py): a message POSTed to the callback.
func TestWeChatSampleOpen(t *testing.T) {
	const enc = "hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4x6F8PGHQHFVAFmOD2LdJF9FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNlZkyyXwon8T332jisa+h6tEDYsVticbSnyU8dKOIbgU6ux5VTjg3yt+WGzjlpKn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgavjIQ6X8tCOp3yZbGpy0VxpAe+77TszTfRd5RJSVO/HTnifJpXgCSUdUue1v6h0EIBYYI1BD1DlD+C0CR8e6OewpusjZ4uBl9FyJvnhvQl+q5rv1ixrcpCumEPo5MJSgM9ehVsNPfUM669WuMyVWQLCzpu9GhglF2PE="
	c, err := callback.New("spamtest", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", "wx2c2769f8efd9abc2")
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Signature("1409735669", "1320562132", enc); got != "5d197aaffba7e9b25a30732f161a50dee96bd5fa" {
		t.Fatalf("Signature of the sample = %s", got)
	}
	body := []byte("<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName><Encrypt><![CDATA[" + enc + "]]></Encrypt></xml>")
	q := url.Values{"msg_signature": {"5d197aaffba7e9b25a30732f161a50dee96bd5fa"}, "timestamp": {"1409735669"}, "nonce": {"1320562132"}}
	msg, err := c.Open(q, body, time.Unix(1409735669, 0))
	if err != nil || !bytes.HasPrefix(msg, []byte("<xml>")) || !bytes.Contains(msg, []byte("gh_")) {
		t.Fatalf("Open of WeChat's sample = %q, %v", msg, err)
	}
	other, _ := callback.New("spamtest", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", "wxsomeoneelse00001")
	if _, err := other.Open(q, body, time.Unix(1409735669, 0)); !errors.Is(err, callback.ErrReceiver) {
		t.Fatalf("the sample opened for another receiver: %v, want ErrReceiver", err)
	}
}

// Vectors made by openssl, not by this package: the plaintext layout built
// here by hand, encrypted with `openssl enc -aes-256-cbc -nopad` under the
// derived key and IV.
func TestOpenSSLVectors(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("openssl is required under CI (scripts/install-test-deps)")
		}
		t.Skip("no openssl")
	}
	const aesKey = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"
	key, _ := base64.StdEncoding.DecodeString(aesKey + "=")
	for _, tc := range []struct{ msg, receiver string }{
		{"1616140317555161061", "ww1436e0e65a779aee"},
		{"<xml><SuiteId><![CDATA[wwsuite01]]></SuiteId><InfoType><![CDATA[suite_ticket]]></InfoType><TimeStamp>1700000000</TimeStamp><SuiteTicket><![CDATA[tk]]></SuiteTicket></xml>", "wwsuite01"},
		{"", "wxcomponent0000001"},
		{strings.Repeat("中文", 40), "wxcomponent0000001"}, // a plaintext ending on a block boundary gets a full block of padding
	} {
		random := []byte("0123456789abcdef")
		var plain bytes.Buffer
		plain.Write(random)
		binary.Write(&plain, binary.BigEndian, uint32(len(tc.msg)))
		plain.WriteString(tc.msg + tc.receiver)
		pad := 32 - plain.Len()%32
		plain.Write(bytes.Repeat([]byte{byte(pad)}, pad))
		cmd := exec.Command("openssl", "enc", "-aes-256-cbc", "-nopad", "-K", hex.EncodeToString(key), "-iv", hex.EncodeToString(key[:16]))
		cmd.Stdin = &plain
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("openssl: %v", err)
		}
		enc := base64.StdEncoding.EncodeToString(out)
		c, err := callback.New("token", aesKey, tc.receiver)
		if err != nil {
			t.Fatal(err)
		}
		msg, err := c.Decrypt(enc)
		if err != nil || string(msg) != tc.msg {
			t.Fatalf("Decrypt of openssl's ciphertext = %q, %v; want %q", msg, err, tc.msg)
		}
		if got := callback.EncryptWithPrefix(c, [16]byte(random), []byte(tc.msg)); got != enc {
			t.Fatalf("Encrypt differs from openssl:\n got %s\nwant %s", got, enc)
		}
	}
}

func TestSealOpenRoundTrip(t *testing.T) {
	c := newCrypto(t, "wwsuite01", "wwprovider01")
	now := time.Now()
	for _, msg := range []string{"", "x", strings.Repeat("a", 31), strings.Repeat("b", 32), strings.Repeat("令牌", 999)} {
		body, q, err := c.Seal([]byte(msg), now, "nonce1")
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.Open(q, body, now)
		if err != nil || string(got) != msg {
			t.Fatalf("round trip of %d bytes: %d bytes, %v", len(msg), len(got), err)
		}
	}
	// The provider's corp id is accepted too (WeCom seals some callbacks
	// for it), but Seal writes the first receiver.
	p := newCrypto(t, "wwprovider01")
	enc, _ := p.Encrypt([]byte("echo"))
	if msg, err := c.Decrypt(enc); err != nil || string(msg) != "echo" {
		t.Fatalf("a message for the second receiver: %q, %v", msg, err)
	}
}

// Every refusal names its cause (an Err value) and returns no message.
func TestRefusals(t *testing.T) {
	c := newCrypto(t, "wwsuite01")
	now := time.Unix(1_800_000_000, 0)
	body, q, err := c.Seal([]byte("<xml><InfoType>suite_ticket</InfoType></xml>"), now, "n1")
	if err != nil {
		t.Fatal(err)
	}
	with := func(k, v string) url.Values {
		q2 := url.Values{}
		for kk, vv := range q {
			q2[kk] = vv
		}
		q2.Set(k, v)
		return q2
	}
	env := envelopeOf(t, body)
	block := func(plain []byte) string { // encrypt raw bytes under c's key, any padding
		key := testKey()
		b, _ := aes.NewCipher(key)
		out := make([]byte, len(plain))
		cipher.NewCBCEncrypter(b, key[:16]).CryptBlocks(out, plain)
		return base64.StdEncoding.EncodeToString(out)
	}
	sealRaw := func(enc string) ([]byte, url.Values) {
		ts := q.Get("timestamp")
		return []byte("<xml><ToUserName>wwsuite01</ToUserName><Encrypt>" + enc + "</Encrypt></xml>"),
			url.Values{"msg_signature": {c.Signature(ts, "n1", enc)}, "timestamp": {ts}, "nonce": {"n1"}}
	}
	badPad := make([]byte, 64)
	badPad[63] = 40 // a pad byte over 32
	shortPad := bytes.Repeat([]byte{7}, 64)
	shortPad[60] = 6 // pad bytes disagree
	overrun := make([]byte, 64)
	binary.BigEndian.PutUint32(overrun[16:20], 1000)
	overrun[63], overrun[62] = 2, 2
	for _, tc := range []struct {
		name string
		q    url.Values
		body []byte
		want error
	}{
		{"wrong signature", with("msg_signature", strings.Repeat("0", 40)), body, callback.ErrSignature},
		{"signature of another nonce", with("nonce", "n2"), body, callback.ErrSignature},
		{"replayed: 6 minutes old", with("timestamp", "1799999640"), body, callback.ErrTimestamp},
		{"6 minutes ahead", with("timestamp", "1800000360"), body, callback.ErrTimestamp},
		{"milliseconds", with("timestamp", "1800000000000"), body, callback.ErrTimestamp},
		{"no timestamp", with("timestamp", ""), body, callback.ErrTimestamp},
		{"no signature", with("msg_signature", ""), body, callback.ErrMalformed},
		{"not XML", q, []byte("{\"Encrypt\":\"x\"}"), callback.ErrMalformed},
		{"no Encrypt", q, []byte("<xml><ToUserName>x</ToUserName></xml>"), callback.ErrMalformed},
		{"oversized body", q, append([]byte("<xml><Encrypt>"), bytes.Repeat([]byte("A"), callback.MaxBody)...), callback.ErrTooLarge},
		{"truncated ciphertext", nil, nil, callback.ErrMalformed},
		{"not base64", nil, nil, callback.ErrMalformed},
		{"bad padding", nil, nil, callback.ErrMalformed},
		{"inconsistent padding", nil, nil, callback.ErrMalformed},
		{"length overruns", nil, nil, callback.ErrMalformed},
		{"another receiver", nil, nil, callback.ErrReceiver},
	} {
		b, qq := tc.body, tc.q
		switch tc.name {
		case "truncated ciphertext":
			raw, _ := base64.StdEncoding.DecodeString(env)
			b, qq = sealRaw(base64.StdEncoding.EncodeToString(raw[:len(raw)-5]))
		case "not base64":
			b, qq = sealRaw("!!!" + env)
		case "bad padding":
			b, qq = sealRaw(block(badPad))
		case "inconsistent padding":
			b, qq = sealRaw(block(shortPad))
		case "length overruns":
			b, qq = sealRaw(block(overrun))
		case "another receiver":
			other := newCrypto(t, "wwsomeoneelse")
			enc, _ := other.Encrypt([]byte("<xml/>"))
			b, qq = sealRaw(enc)
		}
		msg, err := c.Open(qq, b, now)
		if !errors.Is(err, tc.want) || msg != nil {
			t.Errorf("%s: %q, %v; want %v", tc.name, msg, err, tc.want)
		}
	}
}

func TestNewRefusesBadKeys(t *testing.T) {
	for _, key := range []string{"", "short", strings.Repeat("A", 44), strings.Repeat("!", 43)} {
		if _, err := callback.New("t", key, "r"); !errors.Is(err, callback.ErrKey) {
			t.Errorf("key %q: %v, want ErrKey", key, err)
		}
	}
	if _, err := callback.New("", testAESKey, "r"); err == nil {
		t.Error("an empty token was accepted")
	}
	if _, err := callback.New("t", testAESKey); err == nil {
		t.Error("no receiver id was accepted")
	}
}

const testAESKey = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"

func testKey() []byte {
	k, _ := base64.StdEncoding.DecodeString(testAESKey + "=")
	return k
}

func newCrypto(t testing.TB, receivers ...string) *callback.Crypto {
	t.Helper()
	c, err := callback.New("tok3n", testAESKey, receivers...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func envelopeOf(t *testing.T, body []byte) string {
	t.Helper()
	s := string(body)
	i, j := strings.Index(s, "<Encrypt>"), strings.Index(s, "</Encrypt>")
	if i < 0 || j < 0 {
		t.Fatalf("no Encrypt in %s", body)
	}
	return s[i+len("<Encrypt>") : j]
}
