package server

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/wxtoken/wxtoken/core"
	"github.com/wxtoken/wxtoken/server/internal/tenantreg"
	"github.com/wxtoken/wxtoken/wechat"
	"github.com/wxtoken/wxtoken/wechat/callback"
)

// TenantSyncInterval is how often an instance reads each tenant
// registry's head (one small read) when no write notice came: an
// install, an authorization or a removal handled by another instance is
// served here at its notice, or within this interval on a store that
// sends none. A request for a tenant not known here reads its bucket at
// once (at most once a second per app).
const TenantSyncInterval = 5 * time.Second

// tenantReg is a tenant registered with this instance's Manager.
type tenantReg struct {
	key     string            // Manager key: APP/TENANT
	tickets map[string]string // ticket kind -> Manager key, registered on first use
	rev     int64             // the registry revision it was registered from
	digest  uint64            // of the secret it was registered with
	src     core.Source       // the tenant's Source
}

// tenantKey is the Manager key of a tenant of a.
func tenantKey(a *app, id string) string { return a.ID + "/" + id }

// loadTenantKey reads and checks the key ring that seals tenants'
// secrets; nil when no app has tenants. The value holds one or more keys,
// each 32 bytes in base64, newest first, separated by white space or
// commas: the newest seals, any opens (see wechat.NewKeyRing).
func loadTenantKey(cfg Config) (*wechat.SecretBox, error) {
	if cfg.TenantKeyEnv == "" && cfg.TenantKeyFile == "" {
		return nil, nil
	}
	text, err := readSecret("tenant key", cfg.TenantKeyEnv, cfg.TenantKeyFile)
	if err != nil {
		return nil, err
	}
	fields := strings.FieldsFunc(text, func(r rune) bool { return r == ',' || unicode.IsSpace(r) })
	if len(fields) == 0 {
		return nil, errors.New("tenant key: empty; want 32 bytes in base64 (openssl rand -base64 32)")
	}
	keys := make([][]byte, len(fields))
	for i, f := range fields {
		key, err := base64.StdEncoding.DecodeString(f)
		if err != nil || len(key) != 32 {
			return nil, fmt.Errorf("tenant key %d of %d: want 32 bytes in base64 (openssl rand -base64 32)", i+1, len(fields))
		}
		keys[i] = key
	}
	box, err := wechat.NewKeyRing(keys...)
	if err != nil {
		return nil, fmt.Errorf("tenant key: %w", err)
	}
	return box, nil
}

// prepareTenants sets up the registry and the callback of a suite or
// component app that has a callback.
func (s *Server) prepareTenants(a *app) error {
	id, err := s.mgr.Identity(a.tokenKey)
	if err != nil {
		return err
	}
	a.tenants = tenantreg.New(s.state, s.box, s.cfg.KeyPrefix, id)
	a.tenantSet = map[string]tenantReg{}
	cb := a.Callback
	token, err := readSecret("app "+a.ID+" callback token", cb.TokenEnv, cb.TokenFile)
	if err != nil {
		return err
	}
	aesKey, err := readSecret("app "+a.ID+" callback aes key", cb.AESKeyEnv, cb.AESKeyFile)
	if err != nil {
		return err
	}
	self := a.SuiteID
	if a.Kind == KindComponent {
		self = a.AppID
	}
	a.callback, err = callback.New(token, strings.TrimSpace(aesKey), append([]string{self}, cb.Receivers...)...)
	if err != nil {
		return fmt.Errorf("app %s callback: %w", a.ID, err)
	}
	if weakSecret(token) {
		s.log.Warn("wxtoken: the callback token is short or repetitive; whoever guesses it can sign messages the route checks (generate a random one of 32 characters on the console)",
			"app", a.ID, "length", len(token))
	}
	return nil
}

// tenantApps lists the apps with tenants.
func (s *Server) tenantApps() []*app {
	var out []*app
	for _, a := range s.order {
		if a.tenants != nil {
			out = append(out, a)
		}
	}
	return out
}

// syncTenants brings a's registry and this instance's tenants up to date
// (all: every bucket read, as at startup) and acts on what the sync found.
func (s *Server) syncTenants(ctx context.Context, a *app, all bool) error {
	sync := a.tenants.Sync
	if all {
		sync = a.tenants.SyncAll
	}
	res, err := sync(ctx)
	res.Changed = append(res.Changed, a.takeRetries()...)
	s.afterSync(ctx, a, res)
	return err
}

// afterSync serves what a registry sync or change found: tenants added,
// changed or removed, and what the store had lost.
func (s *Server) afterSync(ctx context.Context, a *app, res tenantreg.SyncResult) {
	s.reconcile(a, res.Changed)
	if res.Repaired > 0 {
		s.metrics.republished.WithLabelValues(a.ID, "tenant").Add(float64(res.Repaired))
		s.log.Warn("wxtoken: the state store had lost tenants; re-published them from this instance's memory",
			"app", a.ID, "tenants", res.Repaired, "registry_head_missing", res.HeadMissing)
	}
	if res.SetAside > 0 {
		s.log.Warn("wxtoken: tenant registry documents did not parse; kept aside under KEY:corrupt:REVISION and rewritten", "app", a.ID, "documents", res.SetAside)
	}
	if len(res.Unreadable) > 0 && a.unreadable.allow(time.Now()) {
		s.log.Error("wxtoken: tenant registry documents do not parse and no instance holds their tenants; fix or restore them (wxtoken tenants import)",
			"app", a.ID, "keys", strings.Join(res.Unreadable, " "))
	}
	if res.Repaired > 0 || (res.HeadMissing && a.tenants.Len() > 0) {
		s.startRepublish(a)
	}
	if res.HeadMissing && a.tenants.Len() == 0 {
		s.noRegistry(ctx, a)
	}
	s.startAutoRecover(a)
}

// noRegistry handles a registry the store does not hold and no record of
// which this instance has: a new deployment, or a store that lost its
// data while no instance was running. An empty one is written, so that
// syncs go back to reading the head only; a component's asks for its
// authorizers to be recovered from the Open Platform, which the fleet
// then does by itself (startAutoRecover).
func (s *Server) noRegistry(ctx context.Context, a *app) {
	res, err := a.tenants.Init(ctx, a.Kind == KindComponent)
	if err != nil {
		return // the next sync tries again
	}
	if res.HeadMissing && a.tenants.Len() == 0 {
		s.log.Warn("wxtoken: no tenant registry in the state store (a new deployment, or a store that lost its data while no instance ran: restore the last export with wxtoken tenants import); starting an empty one",
			"app", a.ID)
	}
	s.reconcile(a, res.Changed)
}

// reconcile makes the tenants registered here match the registry's
// records of ids: a new tenant registered, a removed one unregistered,
// one with a new secret (a corp that installed again) registered anew.
func (s *Server) reconcile(a *app, ids []string) {
	if len(ids) == 0 {
		return
	}
	a.tenantMu.Lock()
	defer a.tenantMu.Unlock()
	for _, id := range ids {
		rec, known := a.tenants.Lookup(id)
		reg, have := a.tenantSet[id]
		if !known || rec.Removed() {
			delete(a.adopted, id)
			if have {
				if _, isAuthorizer := reg.src.(*wechat.AuthorizerSource); isAuthorizer {
					// Spent upstream: only a secret less kept. Every
					// instance that served it does this.
					if key, err := s.mgr.StateKey(reg.key, wechat.RefreshTokenState); err == nil {
						_ = s.state.Remove(context.Background(), key)
					}
				}
				if reg, err := s.unregisterTenant(reg); err != nil {
					// Kept, so that the retry finishes what is left.
					s.log.Warn("wxtoken: unregistering a removed tenant", "app", a.ID, "tenant", id, "err", err)
					a.retry = append(a.retry, id)
					a.tenantSet[id] = reg
					continue
				}
				delete(a.tenantSet, id)
			}
			continue
		}
		secret, err := a.tenants.Open(id, rec)
		if err != nil {
			s.log.Warn("wxtoken: a tenant's secret does not open (is every instance on the same tenant key?)", "app", a.ID, "tenant", id, "err", err)
			a.retry = append(a.retry, id)
			continue
		}
		digest := secretDigest(secret)
		if have && reg.digest == digest {
			reg.rev = rec.Rev
			a.tenantSet[id] = reg
			continue
		}
		if have {
			if reg, err := s.unregisterTenant(reg); err != nil {
				s.log.Warn("wxtoken: replacing a tenant", "app", a.ID, "tenant", id, "err", err)
				a.retry = append(a.retry, id)
				a.tenantSet[id] = reg
				continue
			}
			delete(a.tenantSet, id)
		}
		if other, clash := s.configuredCorp(a, id); clash {
			// The configured app has the same identity, so the same entry
			// in the Manager: serving it here too would hand its token to
			// the suite's clients, past the app's own clients list.
			if a.clashes == nil {
				a.clashes = map[string]string{}
			}
			if _, told := a.clashes[id]; !told {
				s.log.Warn("wxtoken: a tenant is also a configured corp app; it is served only as that app (a new permanent code from an install goes into that app's secret by hand)",
					"app", a.ID, "tenant", id, "configured_as", other)
			}
			a.clashes[id] = other
			delete(a.adopted, id)
			continue
		}
		src := a.takeAdopted(id)
		if src == nil {
			src = s.tenantSource(a, id, secret)
		}
		key := tenantKey(a, id)
		if err := s.registerCred(a, key, "tenant", src); err != nil {
			s.log.Warn("wxtoken: registering a tenant", "app", a.ID, "tenant", id, "err", err)
			a.retry = append(a.retry, id)
			continue
		}
		a.tenantSet[id] = tenantReg{key: key, rev: rec.Rev, digest: digest, src: src}
	}
}

// configuredCorp returns the configured corp app that tenant id of suite a
// would share its Manager entry with (a corp token's identity is its
// corpid under its suite), if there is one.
func (s *Server) configuredCorp(a *app, id string) (string, bool) {
	if a.Kind != KindSuite {
		return "", false
	}
	for _, ac := range s.cfg.Apps {
		if ac.Kind == KindCorp && ac.CorpID == id && ac.Suite == a.ID {
			return ac.ID, true
		}
	}
	return "", false
}

// clash returns the configured app tenant id is served as instead, if
// reconcile found one.
func (a *app) clash(id string) (string, bool) {
	a.tenantMu.Lock()
	defer a.tenantMu.Unlock()
	other, ok := a.clashes[id]
	return other, ok
}

// secretDigest tells two secrets apart, to notice a changed one (64 bits
// of SHA-256; nothing is derived from it).
func secretDigest(secret string) uint64 {
	sum := sha256.Sum256([]byte(secret))
	return binary.BigEndian.Uint64(sum[:8])
}

// tenantSource is the Source of a's tenant id: an authorized corp (code
// is its permanent code) or an authorizer.
func (s *Server) tenantSource(a *app, id, code string) core.Source {
	wechatOpts, wecomOpts := s.upstreamOptions()
	if a.Kind == KindSuite {
		return wechat.CorpToken(a.tokenKey, id, code, wecomOpts...)
	}
	return wechat.AuthorizerToken(a.tokenKey, a.AppID, id, s.box, wechatOpts...)
}

// seedFirstToken keeps the token an authorization came with where the new
// tenant's first fetch takes it (wechat.SaveFirstToken): one upstream call
// fewer per tenant. Without it that fetch calls upstream, so a failure is
// only logged.
func (s *Server) seedFirstToken(ctx context.Context, a *app, src core.Source, tok core.Token) {
	if tok.Value == "" {
		return
	}
	key, err := s.mgr.SourceStateKey(src, wechat.FirstTokenState)
	if err == nil {
		err = wechat.SaveFirstToken(ctx, s.state, key, tok)
	}
	if err != nil {
		s.log.Warn("wxtoken: the token an authorization came with was not kept; the tenant's first token costs an upstream call", "app", a.ID, "err", err)
	}
}

// tenant returns the Manager key of a's tenant id. One not known here
// makes the instance read the bucket that would hold it (another instance
// may have just added it), at most once per tenantMissInterval per app: a
// client asking for tenants nobody has, such as one polling a removed
// tenant, costs the store one read a second, not one per request.
func (s *Server) tenant(ctx context.Context, a *app, id string) (string, bool, error) {
	if key, ok := a.registered(id); ok {
		return key, true, nil
	}
	a.missMu.Lock()
	defer a.missMu.Unlock()
	if key, ok := a.registered(id); ok { // found by the read this one waited for
		return key, true, nil
	}
	if time.Since(a.missRead) < tenantMissInterval {
		return "", false, nil
	}
	a.missRead = time.Now()
	res, err := a.tenants.SyncTenant(ctx, id)
	s.afterSync(ctx, a, res)
	if err != nil {
		return "", false, err
	}
	key, ok := a.registered(id)
	return key, ok, nil
}

// tenantMissInterval is how often at most a request for a tenant not
// known here reads the registry.
const tenantMissInterval = time.Second

// registered returns the Manager key of a's tenant id if it is registered
// here.
func (a *app) registered(id string) (string, bool) {
	a.tenantMu.Lock()
	defer a.tenantMu.Unlock()
	reg, ok := a.tenantSet[id]
	return reg.key, ok
}

// takeRetries returns, and forgets, the tenants whose registration here
// failed at the last reconcile: each sync tries them again.
func (a *app) takeRetries() []string {
	a.tenantMu.Lock()
	defer a.tenantMu.Unlock()
	ids := a.retry
	a.retry = nil
	return ids
}

// adopt makes src the Source a reconcile registers for tenant id next:
// one built by the handler of its authorization, which holds what that
// handler saved.
func (a *app) adopt(id string, src core.Source) {
	a.tenantMu.Lock()
	defer a.tenantMu.Unlock()
	if a.adopted == nil {
		a.adopted = map[string]core.Source{}
	}
	a.adopted[id] = src
}

// authorizerSource returns the Source of authorizer id registered here,
// or nil.
func (a *app) authorizerSource(id string) *wechat.AuthorizerSource {
	a.tenantMu.Lock()
	defer a.tenantMu.Unlock()
	src, _ := a.tenantSet[id].src.(*wechat.AuthorizerSource)
	return src
}

// takeAdopted returns, and forgets, the Source adopted for id. Callers
// hold a.tenantMu.
func (a *app) takeAdopted(id string) core.Source {
	src := a.adopted[id]
	delete(a.adopted, id)
	return src
}

// registeredSources returns the Sources of a's tenants registered here.
func (a *app) registeredSources() map[string]tenantReg {
	a.tenantMu.Lock()
	defer a.tenantMu.Unlock()
	out := make(map[string]tenantReg, len(a.tenantSet))
	for id, reg := range a.tenantSet {
		out[id] = reg
	}
	return out
}
