package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/wxtoken/wxtoken/core"
	"github.com/wxtoken/wxtoken/server"
	"github.com/wxtoken/wxtoken/wechat"
	"github.com/wxtoken/wxtoken/wxsim"
)

type tokenFlags struct {
	kind       string
	appID      string
	corpID     string
	agentID    string
	secretEnv  string
	secretFile string
	baseURL    string
	sim        bool
}

func newTokenCmd() *cobra.Command {
	var f tokenFlags
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Fetch one token and print it as JSON, for a quick manual check",
		Long: `Fetch one access_token and print {"access_token","expires_in","expires_at"}.

The secret is read from an environment variable (--secret-env) or a file
(--secret-file), never from a flag, which other users could see in the
process list. --sim fetches from a simulator started in-process, with no
WeChat account.

Note that every /cgi-bin/token call replaces the previous token: on an
account served by a running fleet, use --kind stable or ask the fleet.`,
		Example: `  wxtoken token --sim
  WX_SECRET=... wxtoken token --appid wx123 --secret-env WX_SECRET
  wxtoken token --kind wecom --corpid ww123 --agent 1000002 --secret-file /run/secrets/wecom`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runToken(cmd, f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.kind, "kind", "official", "official (also mini programs), stable or wecom")
	fl.StringVar(&f.appID, "appid", "", "appid (official, stable)")
	fl.StringVar(&f.corpID, "corpid", "", "corpid (wecom)")
	fl.StringVar(&f.agentID, "agent", "", "agent id (wecom)")
	fl.StringVar(&f.secretEnv, "secret-env", "", "environment variable holding the secret")
	fl.StringVar(&f.secretFile, "secret-file", "", "file holding the secret")
	fl.StringVar(&f.baseURL, "base-url", "", "upstream base URL (default: the real WeChat or WeCom host)")
	fl.BoolVar(&f.sim, "sim", false, "fetch from an in-process simulator with a demo app")
	return cmd
}

func runToken(cmd *cobra.Command, f tokenFlags) error {
	var secret string
	if f.sim {
		stop, err := startDemoSim(&f)
		if err != nil {
			return err
		}
		defer stop()
		secret = demoSecret
	} else {
		var err error
		if secret, err = readSecret(f.secretEnv, f.secretFile); err != nil {
			return err
		}
	}
	src, err := sourceFor(f, secret)
	if err != nil {
		return err
	}
	m := core.New()
	defer m.Close()
	if err := m.Register("app", src); err != nil {
		return err
	}
	tok, err := m.Token(cmd.Context(), "app")
	if err != nil {
		return err
	}
	enc := json.NewEncoder(cmd.OutOrStdout())
	enc.SetIndent("", "  ")
	return enc.Encode(server.NewTokenResponse(tok, time.Now()))
}

func sourceFor(f tokenFlags, secret string) (core.Source, error) {
	var opts []wechat.Option
	if f.baseURL != "" {
		opts = append(opts, wechat.WithBaseURL(f.baseURL))
	}
	switch f.kind {
	case "official", "miniprogram":
		if f.appID == "" {
			return nil, errors.New("--appid is required")
		}
		return wechat.OfficialAccount(f.appID, secret, opts...), nil
	case "stable":
		if f.appID == "" {
			return nil, errors.New("--appid is required")
		}
		return wechat.StableToken(f.appID, secret, opts...), nil
	case "wecom":
		if f.corpID == "" || f.agentID == "" {
			return nil, errors.New("--corpid and --agent are required")
		}
		return wechat.WeCom(f.corpID, f.agentID, secret, opts...), nil
	}
	return nil, fmt.Errorf("--kind %q: want official, stable or wecom", f.kind)
}

// readSecret reads a secret from exactly one of an environment variable
// and a file.
func readSecret(env, file string) (string, error) {
	if env != "" && file != "" {
		return "", errors.New("give --secret-env or --secret-file, not both")
	}
	v, err := server.ReadSecret(env, file)
	if errors.Is(err, server.ErrNoSecretSource) {
		return "", errors.New("a secret is required: --secret-env NAME or --secret-file PATH (or --sim)")
	}
	if err != nil {
		return "", fmt.Errorf("reading the secret: %w", err)
	}
	return v, nil
}

// startDemoSim serves a simulator with the demo app on a loopback port and
// points f at it.
func startDemoSim(f *tokenFlags) (func(), error) {
	sim := wxsim.New()
	sim.AddApp(demoAppID, demoSecret)
	sim.AddWeComApp("wwdemo0000000001", "1000002", demoSecret)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: sim, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	f.baseURL = "http://" + ln.Addr().String()
	if f.appID == "" {
		f.appID = demoAppID
	}
	if f.corpID == "" {
		f.corpID, f.agentID = "wwdemo0000000001", "1000002"
	}
	return func() { srv.Close() }, nil
}
