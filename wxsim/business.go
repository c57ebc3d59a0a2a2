package wxsim

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
)

// Check spends token on the business API of the simulator (or of WeChat)
// at baseURL, BusinessPath, as an application's call would, and returns
// upstream's errcode: 0 when it accepted the token, 40001 or 42001 when it
// refused it. An error means no answer was read.
func Check(ctx context.Context, hc *http.Client, baseURL, token string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, baseURL+BusinessPath+"?access_token="+url.QueryEscape(token), nil)
	if err != nil {
		return 0, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var body struct {
		Errcode int `json:"errcode"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return 0, errors.Join(errors.New("wxsim: undecodable business answer"), err)
	}
	return body.Errcode, nil
}
