package server

import (
	"fmt"
	"strings"

	"github.com/wxtoken/wxtoken/core"
	"github.com/wxtoken/wxtoken/wechat"
)

// kindSpec is everything the server knows of one app kind, in one place:
// the fields its config needs, the upstream account it stands for, how its
// status page row names it, whether it has tenants, and how its token and
// tickets are built.
type kindSpec struct {
	// needs are the config fields the kind requires, as the config names
	// them, and what the refusal says when one is missing.
	needs func(AppConfig) (missing bool, what string)
	// account are the parts naming the upstream credential (one account,
	// one app).
	account func(AppConfig) []string
	// label names the account on the status page.
	label func(AppConfig) string
	// tenants: suite and component apps add tenants through callbacks.
	tenants bool
	// source builds the app's token Source (and sets what the app keeps
	// beside it: pushed tickets, the suite or component source).
	source func(s *Server, a *app, secret string) core.Source
	// tickets builds the ticket Sources that follow the app's token, by
	// ticket kind.
	tickets func(s *Server, a *app) map[string]core.Source
}

// kinds are the app kinds the server serves.
var kinds = map[string]kindSpec{
	KindOfficial: {
		needs:   func(a AppConfig) (bool, string) { return a.AppID == "", "appid is required" },
		account: func(a AppConfig) []string { return []string{a.AppID} },
		label:   func(a AppConfig) string { return a.AppID },
		source: func(s *Server, a *app, secret string) core.Source {
			wx, _ := s.upstreamOptions()
			return wechat.OfficialAccount(a.AppID, secret, wx...)
		},
		tickets: jsapiTicket,
	},
	KindStable: {
		needs:   func(a AppConfig) (bool, string) { return a.AppID == "", "appid is required" },
		account: func(a AppConfig) []string { return []string{a.AppID} },
		label:   func(a AppConfig) string { return a.AppID },
		source: func(s *Server, a *app, secret string) core.Source {
			wx, _ := s.upstreamOptions()
			return wechat.StableToken(a.AppID, secret, wx...)
		},
		tickets: jsapiTicket,
	},
	KindWeCom: {
		needs: func(a AppConfig) (bool, string) {
			return a.CorpID == "" || a.AgentID == "", "corpid and agentid are required"
		},
		account: func(a AppConfig) []string { return []string{a.CorpID, a.AgentID} },
		label:   func(a AppConfig) string { return a.CorpID + " / agent " + a.AgentID },
		source: func(s *Server, a *app, secret string) core.Source {
			_, wc := s.upstreamOptions()
			return wechat.WeCom(a.CorpID, a.AgentID, secret, wc...)
		},
		tickets: func(s *Server, a *app) map[string]core.Source {
			_, wc := s.upstreamOptions()
			return map[string]core.Source{
				"jsapi":        wechat.WeComJSAPITicket(a.tokenKey, wc...),
				"agent_config": wechat.WeComAgentTicket(a.tokenKey, wc...),
			}
		},
	},
	KindProvider: {
		needs:   func(a AppConfig) (bool, string) { return a.CorpID == "", "corpid is required" },
		account: func(a AppConfig) []string { return []string{a.CorpID} },
		label:   func(a AppConfig) string { return a.CorpID },
		source: func(s *Server, a *app, secret string) core.Source {
			_, wc := s.upstreamOptions()
			return wechat.ProviderToken(a.CorpID, secret, wc...)
		},
	},
	KindSuite: {
		needs:   func(a AppConfig) (bool, string) { return a.SuiteID == "", "suite_id is required" },
		account: func(a AppConfig) []string { return []string{a.SuiteID} },
		label:   func(a AppConfig) string { return "suite " + a.SuiteID },
		tenants: true,
		source: func(s *Server, a *app, secret string) core.Source {
			_, wc := s.upstreamOptions()
			a.pushed = wechat.NewSuiteTickets(s.state, s.cfg.KeyPrefix, a.SuiteID)
			a.suiteSrc = wechat.SuiteToken(a.SuiteID, secret, a.pushed, wc...)
			return a.suiteSrc
		},
	},
	KindComponent: {
		needs: func(a AppConfig) (bool, string) {
			if a.AppID == "" {
				return true, "appid (the component appid) is required"
			}
			return a.Callback == nil, "callback is required: the component_verify_ticket arrives only there"
		},
		account: func(a AppConfig) []string { return []string{a.AppID} },
		label:   func(a AppConfig) string { return a.AppID },
		tenants: true,
		source: func(s *Server, a *app, secret string) core.Source {
			wx, _ := s.upstreamOptions()
			a.pushed = wechat.NewComponentTickets(s.state, s.cfg.KeyPrefix, a.AppID)
			a.compSrc = wechat.ComponentToken(a.AppID, secret, a.pushed, wx...)
			return a.compSrc
		},
	},
	KindCorp: {
		needs: func(a AppConfig) (bool, string) {
			return a.CorpID == "" || a.Suite == "", "corpid and suite (the suite app's id, listed before it) are required"
		},
		account: func(a AppConfig) []string { return []string{a.CorpID, a.Suite} },
		label:   func(a AppConfig) string { return a.CorpID + " via " + a.Suite },
		source: func(s *Server, a *app, secret string) core.Source {
			_, wc := s.upstreamOptions()
			return wechat.CorpToken(a.Suite, a.CorpID, secret, wc...)
		},
	},
}

// jsapiTicket is the ticket of an official account or a stable token.
func jsapiTicket(s *Server, a *app) map[string]core.Source {
	wx, _ := s.upstreamOptions()
	return map[string]core.Source{"jsapi": wechat.JSAPITicket(a.tokenKey, wx...)}
}

// kindNames lists the kinds for an error message.
const kindNames = "official, stable, wecom, provider, suite, corp or component"

// hasTenants reports whether apps of kind add tenants through callbacks.
func hasTenants(kind string) bool { return kinds[kind].tenants }

// account names the upstream credential an app stands for, empty when
// its fields are missing (reported elsewhere) or its kind is unknown.
func (a AppConfig) account() string {
	k, ok := kinds[a.Kind]
	if !ok {
		return ""
	}
	parts := k.account(a)
	for _, p := range parts {
		if p == "" {
			return ""
		}
	}
	return a.Kind + ":" + strings.Join(parts, ":")
}

// checkKind refuses an unknown kind or a missing field of a's kind.
func checkKind(a AppConfig, where string) error {
	k, ok := kinds[a.Kind]
	if !ok {
		return fmt.Errorf("%s: kind %q: want %s", where, a.Kind, kindNames)
	}
	if missing, what := k.needs(a); missing {
		return fmt.Errorf("%s: %s", where, what)
	}
	return nil
}
