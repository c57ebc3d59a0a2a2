package server

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/wxtoken/wxtoken/wechat"
)

// AppCheck is one app's result in Check.
type AppCheck struct {
	App, Kind string
	OK        bool
	// Detail is the token's remaining life, or what failed (upstream's
	// errcode and message, a timeout).
	Detail string
}

// CheckCache reports whether the shared cache answers.
func (s *Server) CheckCache(ctx context.Context) error { return s.pingCache(ctx) }

// CheckApps gets every app's token once, as a client would, and says for
// each whether it worked and where the token came from. A token the
// shared store holds is the fleet's and is taken as it is (upstream is
// not asked); otherwise the token is fetched as any node fetches it,
// under the fleet lock, and published: a check never retires the token a
// serving fleet uses. On a store with no token yet, a wrong secret or an
// IP missing from the whitelist shows at once.
func (s *Server) CheckApps(ctx context.Context) []AppCheck {
	var out []AppCheck
	for _, a := range s.order {
		c := AppCheck{App: a.ID, Kind: a.Kind}
		if a.Kind == KindSuite || a.Kind == KindComponent || a.Kind == KindCorp {
			// The token needs a ticket upstream pushes to the callback,
			// which this check's empty store does not hold.
			c.OK, c.Detail = true, "not asked: its token needs the ticket upstream pushes to the callback"
			out = append(out, c)
			continue
		}
		tok, err := s.mgr.Token(ctx, a.tokenKey)
		var ae *wechat.APIError
		switch {
		case err == nil:
			from := "the fleet's, from the shared store (upstream not asked)"
			if id, _ := s.mgr.Identity(a.tokenKey); !s.stats.get(id).lastRefresh.IsZero() {
				from = "fetched from upstream under the fleet lock and published"
			}
			c.OK, c.Detail = true, "token expires in "+tok.ExpiresIn(time.Now()).Round(time.Second).String()+"; "+from
		case errors.As(err, &ae):
			c.Detail = fmt.Sprintf("errcode %d: %s", ae.Code, ae.Msg)
		default:
			c.Detail = err.Error()
		}
		out = append(out, c)
	}
	return out
}
