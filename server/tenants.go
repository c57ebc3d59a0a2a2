package server

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"time"

	"github.com/wxtoken/wxtoken/core"
	"github.com/wxtoken/wxtoken/wechat"
	"github.com/wxtoken/wxtoken/wechat/callback"
)

// TenantSyncInterval is how often Run re-reads every tenant registry, so
// that an install, an authorization or a removal handled by another
// instance is served here too. A request for a tenant not known here
// re-reads at once (at most once a second per app).
const TenantSyncInterval = 5 * time.Second

// tenantReg is a tenant registered with this instance's Manager.
type tenantReg struct {
	key    string // Manager key: APP/TENANT
	secret string // the sealed secret it was registered with
}

// tenantKey is the Manager key of a tenant of a.
func tenantKey(a *app, id string) string { return a.ID + "/" + id }

// loadTenantKey reads and checks the key that seals tenants' secrets;
// nil when no app has tenants.
func loadTenantKey(cfg Config) (*wechat.SecretBox, error) {
	if cfg.TenantKeyEnv == "" && cfg.TenantKeyFile == "" {
		return nil, nil
	}
	text, err := readSecret("tenant key", cfg.TenantKeyEnv, cfg.TenantKeyFile)
	if err != nil {
		return nil, err
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(text))
	if err != nil || len(key) != 32 {
		return nil, fmt.Errorf("tenant key: want 32 bytes in base64 (openssl rand -base64 32)")
	}
	return wechat.NewSecretBox(key)
}

// prepareTenants sets up the registry and the callback of a suite or
// component app that has a callback.
func (s *Server) prepareTenants(a *app) error {
	id, err := s.mgr.Identity(a.tokenKey)
	if err != nil {
		return err
	}
	a.tenants = newTenantStore(s.cache, s.box, s.cfg.KeyPrefix, id)
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

// syncTenants makes a's registered tenants those of its registry: new ones
// registered, removed ones unregistered, one with a new secret (a corp
// that installed again) registered anew.
func (s *Server) syncTenants(ctx context.Context, a *app) error {
	recs, err := a.tenants.load(ctx)
	if err != nil {
		return err
	}
	a.tenantMu.Lock()
	defer a.tenantMu.Unlock()
	for id, reg := range a.tenantSet {
		if rec, ok := recs[id]; !ok || rec.Secret != reg.secret {
			if err := s.mgr.Unregister(reg.key); err != nil {
				s.log.Warn("wxtoken: unregistering a removed tenant", "app", a.ID, "tenant", id, "err", err)
			}
			delete(a.tenantSet, id)
		}
	}
	var errs []string
	for id, rec := range recs {
		if _, ok := a.tenantSet[id]; ok {
			continue
		}
		if err := s.registerTenant(a, id, rec); err != nil {
			errs = append(errs, fmt.Sprintf("tenant %s: %v", id, err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("app %s: %s", a.ID, strings.Join(errs, "; "))
	}
	return nil
}

// registerTenant registers one tenant's token. Callers hold a.tenantMu.
func (s *Server) registerTenant(a *app, id string, rec tenantRecord) error {
	var code string
	if a.Kind == KindSuite {
		var err error
		if code, err = a.tenants.secret(id, rec); err != nil {
			return err
		}
	}
	src := s.tenantSource(a, id, code)
	key := tenantKey(a, id)
	if err := s.registerCred(a, key, "tenant", src); err != nil {
		return err
	}
	a.tenantSet[id] = tenantReg{key: key, secret: rec.Secret}
	return nil
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
		err = wechat.SaveFirstToken(ctx, s.cache, key, tok)
	}
	if err != nil {
		s.log.Warn("wxtoken: the token an authorization came with was not kept; the tenant's first token costs an upstream call", "app", a.ID, "err", err)
	}
}

// tenant returns the Manager key of a's tenant id. One not known here
// makes the instance re-read the registry (another instance may have just
// added it), at most once per tenantMissInterval per app: a client asking
// for tenants nobody has, such as one polling a removed tenant, costs the
// store one read a second, not one per request.
func (s *Server) tenant(ctx context.Context, a *app, id string) (string, bool, error) {
	if key, ok := a.registered(id); ok {
		return key, true, nil
	}
	a.missMu.Lock()
	defer a.missMu.Unlock()
	if key, ok := a.registered(id); ok { // found by the re-read this one waited for
		return key, true, nil
	}
	if time.Since(a.missRead) < tenantMissInterval {
		return "", false, nil
	}
	a.missRead = time.Now()
	if err := s.syncTenants(ctx, a); err != nil {
		return "", false, err
	}
	key, ok := a.registered(id)
	return key, ok, nil
}

// tenantMissInterval is how often at most a request for a tenant not
// known here re-reads the registry.
const tenantMissInterval = time.Second

// registered returns the Manager key of a's tenant id if it is registered
// here.
func (a *app) registered(id string) (string, bool) {
	a.tenantMu.Lock()
	defer a.tenantMu.Unlock()
	reg, ok := a.tenantSet[id]
	return reg.key, ok
}

// runTenantSync re-reads every registry now and every TenantSyncInterval
// until ctx ends.
func (s *Server) runTenantSync(ctx context.Context) {
	apps := s.tenantApps()
	if len(apps) == 0 {
		return
	}
	t := time.NewTicker(TenantSyncInterval)
	defer t.Stop()
	for {
		for _, a := range apps {
			sctx, cancel := context.WithTimeout(ctx, TenantSyncInterval)
			if err := s.syncTenants(sctx, a); err != nil && ctx.Err() == nil {
				s.log.Warn("wxtoken: reading the tenant registry", "app", a.ID, "err", err)
			}
			cancel()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
