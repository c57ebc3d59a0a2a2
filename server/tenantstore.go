package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/wxtoken/wxtoken/core"
	"github.com/wxtoken/wxtoken/internal/lockwait"
	"github.com/wxtoken/wxtoken/lock"
	"github.com/wxtoken/wxtoken/wechat"
)

// tenantStore is the registry of one suite's or component's tenants in the
// shared store, which every instance and every restart sees: one JSON
// document under PREFIX:{tenants:KIND:ID}, changed under the lock
// PREFIX:lock:{tenants:KIND:ID}. Secrets in it (WeCom permanent codes) are
// sealed with the tenant key, bound to the document's key and the tenant.
type tenantStore struct {
	cache core.Cache
	box   *wechat.SecretBox
	key   string
	lock  string
}

// tenantDoc is the stored document.
type tenantDoc struct {
	V       int                     `json:"v"`
	Tenants map[string]tenantRecord `json:"tenants"`
}

// tenantRecord is one tenant: an authorized corp (with its sealed
// permanent code) or an authorizer (whose refresh token lives with its
// credential's state, rotated under the credential's lock).
type tenantRecord struct {
	Name    string `json:"name,omitempty"`
	Secret  string `json:"secret,omitempty"`
	AddedAt int64  `json:"added_at"`
}

func newTenantStore(cache core.Cache, box *wechat.SecretBox, prefix, identity string) *tenantStore {
	if prefix == "" {
		prefix = core.DefaultKeyPrefix
	}
	tag := "{tenants:" + identity + "}"
	return &tenantStore{cache: cache, box: box, key: prefix + ":" + tag, lock: prefix + ":lock:" + tag}
}

// load reads the registry; a missing one is empty.
func (t *tenantStore) load(ctx context.Context) (map[string]tenantRecord, error) {
	raw, err := t.cache.Get(ctx, t.key)
	if errors.Is(err, core.ErrNotFound) {
		return map[string]tenantRecord{}, nil
	}
	if err != nil {
		return nil, err
	}
	var doc tenantDoc
	if err := json.Unmarshal([]byte(raw), &doc); err != nil || doc.V != 1 {
		// Never overwritten silently: tenants would be lost.
		return nil, fmt.Errorf("the tenant registry %s does not parse; fix or remove it by hand", t.key)
	}
	if doc.Tenants == nil {
		doc.Tenants = map[string]tenantRecord{}
	}
	return doc.Tenants, nil
}

// secret opens a tenant's sealed secret.
func (t *tenantStore) secret(id string, rec tenantRecord) (string, error) {
	b, err := t.box.Open(t.key+"#"+id, rec.Secret)
	return string(b), err
}

// put adds or replaces a tenant, sealing secret (if any).
func (t *tenantStore) put(ctx context.Context, id, name, secret string) error {
	return t.change(ctx, func(m map[string]tenantRecord) {
		rec := tenantRecord{Name: name, AddedAt: time.Now().Unix()}
		if secret != "" {
			rec.Secret = t.box.Seal(t.key+"#"+id, []byte(secret))
		}
		m[id] = rec
	})
}

// remove deletes a tenant; removing one not there is no error.
func (t *tenantStore) remove(ctx context.Context, id string) error {
	return t.change(ctx, func(m map[string]tenantRecord) { delete(m, id) })
}

// change reads, changes and writes the registry under its lock, so that
// two instances handling two installs at once both land.
func (t *tenantStore) change(ctx context.Context, f func(map[string]tenantRecord)) error {
	if l, ok := t.cache.(lock.Locker); ok {
		lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		lease, err := lockwait.Acquire(lctx, l, t.lock, 10*time.Second)
		cancel()
		if err != nil {
			return fmt.Errorf("locking the tenant registry: %w", err)
		}
		defer lease.Unlock(context.WithoutCancel(ctx))
	}
	m, err := t.load(ctx)
	if err != nil {
		return err
	}
	f(m)
	b, err := json.Marshal(tenantDoc{V: 1, Tenants: m})
	if err != nil {
		return err
	}
	return t.cache.Set(ctx, t.key, string(b), 0)
}
