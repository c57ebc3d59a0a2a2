package server

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/wxtoken/wxtoken/core"
	"github.com/wxtoken/wxtoken/wechat"
)

// TenantInfo is one tenant as listed.
type TenantInfo struct {
	ID      string    `json:"id"`
	Name    string    `json:"name,omitempty"`
	AddedAt time.Time `json:"added_at"`
}

// Tenants lists app's live tenants, as this server knows them (after
// LoadTenants, or as a serving instance follows the registry).
func (s *Server) Tenants(appID string) ([]TenantInfo, error) {
	a, err := s.tenantApp(appID)
	if err != nil {
		return nil, err
	}
	recs := a.tenants.Tenants()
	out := make([]TenantInfo, 0, len(recs))
	for _, rec := range recs {
		out = append(out, TenantInfo{ID: rec.ID, Name: rec.Name, AddedAt: time.Unix(rec.AddedAt, 0).UTC()})
	}
	return out, nil
}

// RemoveTenant records that an operator removed app's tenant id: a
// tombstone every instance follows, as a signed cancel_auth or
// unauthorized would write. A component's refresh token for it is
// deleted.
func (s *Server) RemoveTenant(ctx context.Context, appID, tenant string) error {
	a, err := s.tenantApp(appID)
	if err != nil {
		return err
	}
	_, err = s.removeTenant(ctx, a, tenant, time.Time{}) // an operator: always
	return err
}

// ResealReport says what ResealTenants did.
type ResealReport struct {
	KeyID         string `json:"key_id"`         // the key everything is sealed with now
	Records       int    `json:"records"`        // registry secrets resealed
	RefreshTokens int    `json:"refresh_tokens"` // refresh tokens resealed
}

// ResealTenants rewrites every secret of app's tenants that another key
// of the ring sealed with the newest key: the registry's permanent codes
// (under its lock) and the authorizers' refresh tokens (each under its
// fleet lock). Once it reports no error, keys after the first can leave
// the ring. Run LoadTenants first.
func (s *Server) ResealTenants(ctx context.Context, appID string) (ResealReport, error) {
	rep := ResealReport{KeyID: s.box.KeyID()}
	a, err := s.tenantApp(appID)
	if err != nil {
		return rep, err
	}
	n, res, err := a.tenants.Reseal(ctx)
	rep.Records = n
	s.afterSync(ctx, a, res)
	errs := []error{err}
	for id, reg := range a.registeredSources() {
		src, ok := reg.src.(*wechat.AuthorizerSource)
		if !ok {
			continue
		}
		err := s.mgr.UpdateState(ctx, reg.key, func(ctx context.Context, req core.FetchRequest) error {
			done, err := src.Reseal(ctx, req)
			if done {
				rep.RefreshTokens++
			}
			return err
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("tenant %s: %w", id, err))
		}
	}
	return rep, errors.Join(errs...)
}
