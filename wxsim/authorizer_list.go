package wxsim

import (
	"cmp"
	"net/http"
	"slices"
)

// MaxAuthorizerListCount is the most authorizers one
// api_get_authorizer_list call returns.
const MaxAuthorizerListCount = 500

// authorizerList is POST /cgi-bin/component/api_get_authorizer_list: the
// component's authorizers, count at a time from offset, in a stable
// order, each with its newest refresh token and when it authorized.
func (s *Sim) authorizerList(w http.ResponseWriter, r *http.Request) {
	var body struct {
		AppID  string `json:"component_appid"`
		Offset int    `json:"offset"`
		Count  int    `json:"count"`
	}
	if !decodeBody(w, r, &body) {
		return
	}
	if body.Count <= 0 || body.Count > MaxAuthorizerListCount || body.Offset < 0 {
		fail(w, 47001)
		return
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.componentOf(w, r, body.AppID, now) {
		return
	}
	type item struct {
		AppID        string `json:"authorizer_appid"`
		RefreshToken string `json:"refresh_token"`
		AuthTime     int64  `json:"auth_time"`
	}
	var all []item
	for k, a := range s.authorizers {
		if k.suite == body.AppID { // authKey{component, authorizer}
			all = append(all, item{AppID: k.corp, RefreshToken: a.refresh, AuthTime: a.since.Unix()})
		}
	}
	slices.SortFunc(all, func(x, y item) int { return cmp.Compare(x.AppID, y.AppID) })
	page := all[min(body.Offset, len(all)):min(body.Offset+body.Count, len(all))]
	writeJSON(w, map[string]any{"total_count": len(all), "list": page})
}
