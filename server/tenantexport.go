package server

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/wxtoken/wxtoken/core"
	"github.com/wxtoken/wxtoken/server/internal/tenantreg"
	"github.com/wxtoken/wxtoken/wechat"
)

// TenantExportFormat names the document ExportTenants writes.
const TenantExportFormat = "wxtoken-tenants"

// TenantExport is a sealed backup of one app's tenants: every record of
// its registry (tombstones included, so that an import does not bring a
// removed tenant back) and every authorizer's refresh token. Secrets in it
// are sealed with the tenant key ring's newest key, bound to the app's
// identity, the tenant and the field, so the file is only as sensitive as
// the key, and a secret moved to another tenant or app does not open. No
// plaintext secret is ever written.
type TenantExport struct {
	Format     string           `json:"format"`
	V          int              `json:"v"`
	App        string           `json:"app"`
	Identity   string           `json:"identity"`
	ExportedAt time.Time        `json:"exported_at"`
	KeyID      string           `json:"key_id"`
	Tenants    []ExportedTenant `json:"tenants"`
}

// ExportedTenant is one tenant of a TenantExport.
type ExportedTenant struct {
	ID        string `json:"id"`
	Rev       int64  `json:"rev"`
	Name      string `json:"name,omitempty"`
	AddedAt   int64  `json:"added_at,omitempty"`
	RemovedAt int64  `json:"removed_at,omitempty"`
	// Secret is a corp's permanent code, sealed.
	Secret string `json:"secret,omitempty"`
	// RefreshToken is an authorizer's refresh token, sealed, and
	// RefreshSeq the link of its chain it was.
	RefreshToken string `json:"refresh_token,omitempty"`
	RefreshSeq   int64  `json:"refresh_seq,omitempty"`
}

// exportName is what a secret in an export is sealed for.
func exportName(identity, tenant, field string) string {
	return "wxtoken-export:" + identity + "#" + tenant + "#" + field
}

// tenantApp returns the app with tenants named id.
func (s *Server) tenantApp(id string) (*app, error) {
	a := s.apps[id]
	switch {
	case a == nil:
		return nil, fmt.Errorf("no app %q in the config", id)
	case a.tenants == nil:
		return nil, fmt.Errorf("app %s has no tenants (only suite and component apps with a callback do)", id)
	}
	return a, nil
}

// LoadTenants reads app's whole registry and registers its tenants with
// this server's Manager (no upstream call), as a starting instance does:
// for the tenant commands, which work on a server that is not serving.
func (s *Server) LoadTenants(ctx context.Context, appID string) error {
	a, err := s.tenantApp(appID)
	if err != nil {
		return err
	}
	res, err := a.tenants.SyncAll(ctx)
	s.reconcile(a, res.Changed)
	return err
}

// ExportTenants returns a sealed backup of app's tenants, as the state
// store holds them (LoadTenants first).
func (s *Server) ExportTenants(ctx context.Context, appID string) (*TenantExport, error) {
	a, err := s.tenantApp(appID)
	if err != nil {
		return nil, err
	}
	identity, err := s.mgr.Identity(a.tokenKey)
	if err != nil {
		return nil, err
	}
	x := &TenantExport{Format: TenantExportFormat, V: 1, App: a.ID, Identity: identity, ExportedAt: time.Now().UTC(), KeyID: s.box.KeyID(),
		Tenants: []ExportedTenant{}}
	regs := a.registeredSources()
	var errs []error
	for _, t := range a.tenants.All() {
		e := ExportedTenant{ID: t.ID, Rev: t.Rev, Name: t.Name, AddedAt: t.AddedAt, RemovedAt: t.RemovedAt}
		if plain, err := a.tenants.Open(t.ID, t.Record); err != nil {
			errs = append(errs, err)
			continue
		} else if plain != "" {
			e.Secret = s.box.Seal(exportName(identity, t.ID, "secret"), []byte(plain))
		}
		if reg, ok := regs[t.ID]; ok && a.Kind == KindComponent && !t.Removed() {
			key, err := s.mgr.SourceStateKey(reg.src, wechat.RefreshTokenState)
			if err != nil {
				return nil, err
			}
			rt, err := wechat.LoadRefreshToken(ctx, s.state, s.box, key)
			switch {
			case err == nil:
				e.RefreshToken, e.RefreshSeq = s.box.Seal(exportName(identity, t.ID, "refresh_token"), []byte(rt.Token)), rt.Seq
			case !errors.Is(err, wechat.ErrNoRefreshToken):
				errs = append(errs, fmt.Errorf("tenant %s: %w", t.ID, err))
			}
		}
		x.Tenants = append(x.Tenants, e)
	}
	return x, errors.Join(errs...)
}

// ImportReport says what ImportTenants did.
type ImportReport struct {
	Records       int `json:"records"`        // registry records taken (newer than what the store held)
	RefreshTokens int `json:"refresh_tokens"` // refresh tokens written where the store had none or an older one
}

// ImportTenants merges a backup made by ExportTenants into app's registry
// and refresh tokens. It is idempotent: a record lands only where the
// registry holds nothing newer of its tenant, and a refresh token only
// where the store holds none or an older link of its chain (each under
// the authorizer's fleet lock).
func (s *Server) ImportTenants(ctx context.Context, appID string, x *TenantExport) (ImportReport, error) {
	var rep ImportReport
	a, err := s.tenantApp(appID)
	if err != nil {
		return rep, err
	}
	identity, err := s.mgr.Identity(a.tokenKey)
	if err != nil {
		return rep, err
	}
	if x.Format != TenantExportFormat || x.V != 1 {
		return rep, fmt.Errorf("not a wxtoken tenant export (format %q, v %d)", x.Format, x.V)
	}
	if x.Identity != identity {
		return rep, fmt.Errorf("the export is of %s (app %s); app %s is %s", x.Identity, x.App, a.ID, identity)
	}
	recs := make([]tenantreg.Restored, 0, len(x.Tenants))
	refresh := map[string]wechat.StoredRefreshToken{}
	for _, t := range x.Tenants {
		if t.Rev <= 0 || t.ID == "" {
			return rep, fmt.Errorf("tenant %q: no id or revision", t.ID)
		}
		r := tenantreg.Restored{ID: t.ID, Record: tenantreg.Record{Rev: t.Rev, Name: t.Name, AddedAt: t.AddedAt, RemovedAt: t.RemovedAt}}
		if t.Secret != "" {
			plain, err := s.box.Open(exportName(identity, t.ID, "secret"), t.Secret)
			if err != nil {
				return rep, fmt.Errorf("tenant %s: %w", t.ID, err)
			}
			r.Plain = string(plain)
		}
		if t.RefreshToken != "" && t.RemovedAt == 0 {
			plain, err := s.box.Open(exportName(identity, t.ID, "refresh_token"), t.RefreshToken)
			if err != nil {
				return rep, fmt.Errorf("tenant %s: %w", t.ID, err)
			}
			refresh[t.ID] = wechat.StoredRefreshToken{Token: string(plain), Seq: t.RefreshSeq}
		}
		recs = append(recs, r)
	}
	rep.Records, rep.RefreshTokens, err = s.restore(ctx, a, recs, refresh, false)
	return rep, err
}

// restore merges records into a's registry, serves what changed, and
// then writes the refresh tokens given (see restoreRefreshTokens). It
// returns how many records and refresh tokens it took.
func (s *Server) restore(ctx context.Context, a *app, recs []tenantreg.Restored, tokens map[string]wechat.StoredRefreshToken, replace bool) (int, int, error) {
	n := 0
	if len(recs) > 0 {
		var res tenantreg.SyncResult
		var err error
		n, res, err = a.tenants.Import(ctx, recs)
		s.afterSync(ctx, a, res)
		if err != nil {
			return n, 0, err
		}
	}
	rts, err := s.restoreRefreshTokens(ctx, a, tokens, replace)
	return n, rts, err
}

// restoreRefreshTokens writes the refresh tokens given for a's registered
// authorizers, each under its fleet lock (see AuthorizerSource.Restore),
// and returns how many it wrote.
func (s *Server) restoreRefreshTokens(ctx context.Context, a *app, tokens map[string]wechat.StoredRefreshToken, replace bool) (int, error) {
	regs := a.registeredSources()
	n := 0
	var errs []error
	for id, rt := range tokens {
		reg, ok := regs[id]
		src, isAuthorizer := reg.src.(*wechat.AuthorizerSource)
		if !ok || !isAuthorizer {
			continue // removed since, or not an authorizer
		}
		err := s.mgr.UpdateState(ctx, reg.key, func(ctx context.Context, req core.FetchRequest) error {
			wrote, err := src.Restore(ctx, req, rt, replace)
			if wrote {
				n++
			}
			return err
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("tenant %s: %w", id, err))
		}
	}
	return n, errors.Join(errs...)
}
