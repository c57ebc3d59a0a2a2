package wxsim

import (
	"fmt"
	"net/http"
	"net/url"
)

// Upstream hosts Hosts sends to the simulator.
var upstreamHosts = map[string]bool{"api.weixin.qq.com": true, "qyapi.weixin.qq.com": true}

// Hosts returns an http.RoundTripper that sends requests for WeChat's and
// WeCom's API hosts (api.weixin.qq.com, qyapi.weixin.qq.com) to the
// simulator at base instead, over base's scheme, and any other request
// through next (http.DefaultTransport when nil). It is for SDKs whose
// endpoint URLs are fixed: set it as the transport of the http.Client the
// SDK uses, and the SDK runs against the simulator unchanged.
func Hosts(base string, next http.RoundTripper) (http.RoundTripper, error) {
	u, err := url.Parse(base)
	if err == nil && u.Host == "" {
		err = fmt.Errorf("wxsim: base URL %q has no host", base)
	}
	if err != nil {
		return nil, err
	}
	if next == nil {
		next = http.DefaultTransport
	}
	return hostsTransport{to: u, next: next}, nil
}

type hostsTransport struct {
	to   *url.URL
	next http.RoundTripper
}

func (t hostsTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if !upstreamHosts[r.URL.Host] {
		return t.next.RoundTrip(r)
	}
	r2 := r.Clone(r.Context())
	r2.URL.Scheme, r2.URL.Host, r2.Host = t.to.Scheme, t.to.Host, t.to.Host
	return t.next.RoundTrip(r2)
}
