package core_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken/core"
	"github.com/wxtoken/wxtoken/internal/syncbuf"
	"github.com/wxtoken/wxtoken/wechat"
	"github.com/wxtoken/wxtoken/wxsim"
)

// No secret given to a Source may appear in an error or a log line,
// whatever goes wrong: wrong secret, refused connection, dropped
// connection, HTTP 500, timeout.
func TestSecretsNeverLeak(t *testing.T) {
	dead := httptest.NewServer(nil)
	deadURL := dead.URL
	dead.Close()

	cases := map[string]func(sim *wxsim.Server) (core.Source, string){
		"wrong secret": func(sim *wxsim.Server) (core.Source, string) {
			return wechat.OfficialAccount(testApp, "Wr0ng-"+testSecret, wechat.WithBaseURL(sim.URL)), "Wr0ng-" + testSecret
		},
		"connection refused": func(*wxsim.Server) (core.Source, string) {
			return wechat.OfficialAccount(testApp, testSecret, wechat.WithBaseURL(deadURL)), testSecret
		},
		"connection dropped": func(sim *wxsim.Server) (core.Source, string) {
			sim.InjectFault(wxsim.Fault{Drop: true})
			return wechat.OfficialAccount(testApp, testSecret, wechat.WithBaseURL(sim.URL)), testSecret
		},
		"HTTP 500": func(sim *wxsim.Server) (core.Source, string) {
			sim.InjectFault(wxsim.Fault{HTTPStatus: 500})
			return wechat.OfficialAccount(testApp, testSecret, wechat.WithBaseURL(sim.URL)), testSecret
		},
		"timeout": func(sim *wxsim.Server) (core.Source, string) {
			sim.InjectFault(wxsim.Fault{Latency: 2 * time.Second})
			return wechat.OfficialAccount(testApp, testSecret, wechat.WithBaseURL(sim.URL),
				wechat.WithHTTPClient(&http.Client{Timeout: 100 * time.Millisecond})), testSecret
		},
		"bad base URL": func(*wxsim.Server) (core.Source, string) {
			return wechat.OfficialAccount(testApp, testSecret, wechat.WithBaseURL("http://in valid")), testSecret
		},
		"WeCom wrong secret": func(sim *wxsim.Server) (core.Source, string) {
			sim.AddWeComApp("ww1", "1000002", "right")
			return wechat.WeCom("ww1", "1000002", "W3c0m-"+testSecret, wechat.WithBaseURL(sim.URL)), "W3c0m-" + testSecret
		},
		"stable wrong secret": func(sim *wxsim.Server) (core.Source, string) {
			return wechat.StableToken(testApp, "St4ble-"+testSecret, wechat.WithBaseURL(sim.URL)), "St4ble-" + testSecret
		},
	}
	for name, mk := range cases {
		t.Run(name, func(t *testing.T) {
			sim := newSim(t)
			src, secret := mk(sim)
			var logs syncbuf.Buffer
			m := core.New(core.WithLogger(slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))),
				core.WithSettings(core.Settings{FetchAttempts: 2}))
			defer m.Close()
			register(t, m, "app", src)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_, err := m.Token(ctx, "app")
			if err == nil {
				t.Fatal("expected an error")
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("the error text holds the secret: %v", err)
			}
			if !strings.Contains(logs.String(), "upstream fetch failed") {
				t.Fatalf("the failure was not logged (so the log check proves nothing): %s", logs.String())
			}
			if strings.Contains(logs.String(), secret) {
				t.Errorf("the log holds the secret:\n%s", logs.String())
			}
		})
	}
}
