package server

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/wxtoken/wxtoken/core"
	"github.com/wxtoken/wxtoken/lock"
	"github.com/wxtoken/wxtoken/store"
)

// A status session is a cookie that names a client until it ends:
//
//	v2.NAME.EXPIRY.ID.MAC
//
// the client's name (base64url), the end (Unix seconds), 16 random bytes
// naming this session, and an HMAC-SHA256 of all of them and of the
// SHA-256 of the client's key, keyed with the fleet's session secret.
//
// The secret is 32 random bytes that the first instance to need it writes
// to the state store; every instance reads it there, so a session made on
// one verifies on all, and a reload keeps it. A cookie therefore proves
// nothing about the client's key to whoever holds it: without the secret
// it cannot be checked offline against guessed keys. Changing a client's
// key ends its sessions (the key's digest is in the MAC). Signing out
// records the session's ID as ended in the state store until the session
// would have ended, so a copy of the cookie is refused from then on.
//
// If the store loses the secret, a new one is made and every session
// ends (people sign in again); if it loses an ended ID, a copy of that
// cookie opens again until its end, 30 minutes at most.
type sessions struct {
	store  core.Cache
	prefix string
	mu     sync.Mutex // guards secret and readAt, never held over a store call
	secret []byte
	readAt time.Time
	loads  singleflight.Group
}

// rereadEvery bounds how often a session that does not verify makes an
// instance re-read the secret (another instance may have replaced a lost
// one).
const rereadEvery = 5 * time.Second

func newSessions(store core.Cache, prefix string) *sessions {
	return &sessions{store: store, prefix: prefix}
}

// The secret's key and its lock's share a hash tag, so that a Redis
// Cluster can write the one under the other.
func (ss *sessions) secretKey() string { return ss.prefix + ":status:{session-secret}" }
func (ss *sessions) lockName() string  { return ss.prefix + ":status:lock:{session-secret}" }

// key returns the fleet's session secret, read from the store once (and
// again when reread, at most every rereadEvery), made there when absent.
// One read at a time goes to the store; a failed one keeps the secret
// read before, if any.
func (ss *sessions) key(ctx context.Context, reread bool) ([]byte, error) {
	ss.mu.Lock()
	secret, readAt := ss.secret, ss.readAt
	ss.mu.Unlock()
	if secret != nil && (!reread || time.Since(readAt) < rereadEvery) {
		return secret, nil
	}
	v, err, _ := ss.loads.Do("", func() (any, error) { return ss.load(ctx) })
	if err != nil {
		if secret != nil {
			return secret, nil
		}
		return nil, err
	}
	secret = v.([]byte)
	ss.mu.Lock()
	ss.secret, ss.readAt = secret, time.Now()
	ss.mu.Unlock()
	return secret, nil
}

// load reads the secret, or makes it: under the store's lock when the
// store has one (two instances starting at once make one secret, not two
// that each keep), written only while the lock is held when the store can
// fence. A stored value that is not a secret is an error, not replaced:
// replacing it would end every session of the fleet on a misread.
func (ss *sessions) load(ctx context.Context) ([]byte, error) {
	secret, err := ss.read(ctx)
	if !errors.Is(err, core.ErrNotFound) {
		return secret, err
	}
	locker, ok := ss.store.(lock.Locker)
	if !ok {
		return ss.make(ctx, nil)
	}
	for {
		lease, err := locker.TryLock(ctx, ss.lockName(), 10*time.Second)
		if err == nil {
			defer lease.Unlock(context.WithoutCancel(ctx))
			secret, err := ss.read(ctx)
			if errors.Is(err, core.ErrNotFound) {
				return ss.make(ctx, lease)
			}
			return secret, err
		}
		if !errors.Is(err, lock.ErrNotAcquired) {
			return nil, fmt.Errorf("locking the status session secret: %w", err)
		}
		// Another instance is making it.
		select {
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		case <-time.After(100 * time.Millisecond):
		}
		if secret, err := ss.read(ctx); !errors.Is(err, core.ErrNotFound) {
			return secret, err
		}
	}
}

// make writes a new secret (through lease when it fences) and returns
// what the store then holds.
func (ss *sessions) make(ctx context.Context, lease lock.Lease) ([]byte, error) {
	fresh := make([]byte, 32)
	rand.Read(fresh)
	value := base64.StdEncoding.EncodeToString(fresh)
	var err error
	if fl, ok := lease.(store.FencedLease); ok {
		err = fl.SetIfHeld(ctx, ss.secretKey(), value, 0)
	} else {
		err = ss.store.Set(ctx, ss.secretKey(), value, 0)
	}
	if err != nil {
		return nil, fmt.Errorf("writing the status session secret: %w", err)
	}
	return ss.read(ctx)
}

func (ss *sessions) read(ctx context.Context) ([]byte, error) {
	v, err := ss.store.Get(ctx, ss.secretKey())
	if errors.Is(err, core.ErrNotFound) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("reading the status session secret: %w", err)
	}
	b, err := base64.StdEncoding.DecodeString(v)
	if err != nil || len(b) != 32 {
		return nil, fmt.Errorf("the stored status session secret (key %s) is not 32 bytes of base64: remove the key to have a new one made (every session then ends)", ss.secretKey())
	}
	return b, nil
}

func (ss *sessions) endedKey(id string) string { return ss.prefix + ":status:ended:" + id }

// sessionMAC is the MAC of a session of the client called name whose key
// has the given digest.
func sessionMAC(secret []byte, name string, digest [32]byte, exp int64, id string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("wxtoken status session v2\x00" + name + "\x00"))
	m.Write(digest[:])
	m.Write([]byte("\x00" + strconv.FormatInt(exp, 10) + "\x00" + id))
	return m.Sum(nil)
}

// seal returns the cookie value of a new session of the client called
// name, ending at exp.
func (ss *sessions) seal(ctx context.Context, c *clients, name string, exp time.Time) (string, error) {
	digest, ok := c.digestOf(name)
	if !ok {
		return "", fmt.Errorf("no client %q", name)
	}
	secret, err := ss.key(ctx, false)
	if err != nil {
		return "", err
	}
	raw := make([]byte, 16)
	rand.Read(raw)
	enc := base64.RawURLEncoding
	id := enc.EncodeToString(raw)
	e := exp.Unix()
	return "v2." + enc.EncodeToString([]byte(name)) + "." + strconv.FormatInt(e, 10) + "." + id + "." +
		enc.EncodeToString(sessionMAC(secret, name, digest, e, id)), nil
}

// parsedSession is a cookie value taken apart, not yet verified.
type parsedSession struct {
	name, id string
	exp      int64
	mac      []byte
}

func parseSession(value string) (parsedSession, bool) {
	parts := strings.Split(value, ".")
	if len(parts) != 5 || parts[0] != "v2" {
		return parsedSession{}, false
	}
	enc := base64.RawURLEncoding
	name, err1 := enc.DecodeString(parts[1])
	exp, err2 := strconv.ParseInt(parts[2], 10, 64)
	id, err3 := enc.DecodeString(parts[3])
	mac, err4 := enc.DecodeString(parts[4])
	if err1 != nil || err2 != nil || err3 != nil || err4 != nil || len(id) != 16 {
		return parsedSession{}, false
	}
	return parsedSession{name: string(name), id: parts[3], exp: exp, mac: mac}, true
}

// open returns the client a cookie value signs in, or "" for one that
// does not parse, has ended, ends too far ahead, does not verify or was
// signed out; and an error when the store did not answer. An unknown
// client's name costs the same MAC as a known one's.
func (ss *sessions) open(ctx context.Context, c *clients, value string, now time.Time) (string, error) {
	p, ok := parseSession(value)
	if !ok {
		return "", nil
	}
	if end := time.Unix(p.exp, 0); !end.After(now) || end.After(now.Add(statusSessionTTL+time.Minute)) {
		return "", nil
	}
	digest, known := c.digestOf(p.name)
	verified := false
	for _, reread := range []bool{false, true} {
		secret, err := ss.key(ctx, reread)
		if err != nil {
			return "", err
		}
		if hmac.Equal(p.mac, sessionMAC(secret, p.name, digest, p.exp, p.id)) {
			verified = true
			break
		}
	}
	if !verified || !known {
		return "", nil
	}
	switch _, err := ss.store.Get(ctx, ss.endedKey(p.id)); {
	case err == nil:
		return "", nil // signed out
	case !errors.Is(err, core.ErrNotFound):
		return "", fmt.Errorf("reading the signed-out sessions: %w", err)
	}
	return p.name, nil
}

// end records the session of value, if it is one, as signed out.
func (ss *sessions) end(ctx context.Context, c *clients, value string, now time.Time) error {
	if name, err := ss.open(ctx, c, value, now); err != nil || name == "" {
		return err
	}
	p, _ := parseSession(value)
	ttl := time.Unix(p.exp, 0).Sub(now) + time.Minute
	return ss.store.Set(ctx, ss.endedKey(p.id), "1", ttl)
}
