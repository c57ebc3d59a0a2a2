package main

import (
	"bytes"
	"context"
	_ "embed"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/wxtoken/wxtoken/server"
)

//go:embed default.yaml
var defaultConfig []byte

type serveFlags struct {
	config         string
	listen         string
	cache          string
	insecureNoAuth bool
	logFormat      string
	logLevel       string
}

func newServeCmd() *cobra.Command {
	var f serveFlags
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the central token server (中控服务器)",
		Long: `Run the central token server: one process (or several, on a shared
cache) keeps every configured app's token alive and serves it over HTTP to
business servers in any language.

Without --config it runs its embedded default: a demo account on the
in-memory cache, on 127.0.0.1:8080 without client keys, against a WeChat
simulator started alongside. An upstream set to "sim" in any config does
the same.

Flags, then the environment (WXTOKEN_LISTEN, WXTOKEN_CACHE,
WXTOKEN_INSTANCE, WXTOKEN_LOG_FORMAT, WXTOKEN_LOG_LEVEL), override the file.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runServe(cmd.Context(), cmd, f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.config, "config", "", "YAML config file (default: the embedded demo)")
	fl.StringVar(&f.listen, "listen", "", "address to listen on")
	fl.StringVar(&f.cache, "cache", "", "cache URL: memory://, file:///dir, redis://host:6379/0, memcache://h1,h2, etcd://h1,h2, ...")
	fl.BoolVar(&f.insecureNoAuth, "insecure-no-auth", false, "serve without client keys (loopback addresses only)")
	fl.StringVar(&f.logFormat, "log-format", "", "text or json")
	fl.StringVar(&f.logLevel, "log-level", "", "debug, info or warn")
	return cmd
}

func loadServeConfig(f serveFlags) (server.Config, error) {
	var cfg server.Config
	var err error
	if f.config == "" {
		for env, v := range demoEnv {
			if os.Getenv(env) == "" {
				os.Setenv(env, v)
			}
		}
		cfg, err = server.ParseConfig(bytes.NewReader(defaultConfig))
	} else {
		cfg, err = server.LoadConfig(f.config)
	}
	if err != nil {
		return cfg, err
	}
	override := func(dst *string, flag, env string) {
		if v := os.Getenv(env); v != "" {
			*dst = v
		}
		if flag != "" {
			*dst = flag
		}
	}
	override(&cfg.Listen, f.listen, "WXTOKEN_LISTEN")
	override(&cfg.Cache, f.cache, "WXTOKEN_CACHE")
	override(&cfg.Instance, "", "WXTOKEN_INSTANCE")
	override(&cfg.Log.Format, f.logFormat, "WXTOKEN_LOG_FORMAT")
	override(&cfg.Log.Level, f.logLevel, "WXTOKEN_LOG_LEVEL")
	if f.insecureNoAuth {
		cfg.InsecureNoAuth = true
	}
	return cfg, nil
}

// newLogger makes the process's logger; its level can be changed later
// (a reload) through the LevelVar.
func newLogger(format, level string) (*slog.Logger, *slog.LevelVar, error) {
	lv, err := parseLevel(level)
	if err != nil {
		return nil, nil, err
	}
	v := new(slog.LevelVar)
	v.Set(lv)
	opts := &slog.HandlerOptions{Level: v}
	switch format {
	case "", "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), v, nil
	case "json":
		opts.ReplaceAttr = secondsForDurations
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), v, nil
	}
	return nil, nil, fmt.Errorf("log format %q: want text or json", format)
}

// parseLevel reads a log level ("" is info).
func parseLevel(level string) (slog.Level, error) {
	var lv slog.Level
	if level != "" {
		if err := lv.UnmarshalText([]byte(level)); err != nil {
			return 0, fmt.Errorf("log level %q: %w", level, err)
		}
	}
	return lv, nil
}

// checkStateAtStart refuses to serve on a state store known to lose
// data (server.CheckState), and says once when it cannot tell. A store
// that does not answer yet is not refused: the fleet may start before it.
func checkStateAtStart(ctx context.Context, srv *server.Server, logger *slog.Logger) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	d, err := srv.CheckState(ctx)
	switch {
	case err != nil:
		return err
	case !srv.KeepsTenantState():
		// Only tokens and bookkeeping: a store that loses them costs a
		// fetch each.
	case d.Verdict == server.Unknown:
		logger.Warn("wxtoken: cannot tell whether the state store keeps what it holds", "store", d.Store, "detail", d.Detail)
	case d.Verdict == server.Volatile:
		logger.Warn("wxtoken: the state store can lose data (accepted by accept_volatile_state)", "store", d.Store, "detail", d.Detail)
	}
	return nil
}

// requestTimeout is the config's request_timeout, or its default.
func requestTimeout(cfg server.Config) time.Duration {
	if cfg.RequestTimeout > 0 {
		return cfg.RequestTimeout
	}
	return server.DefaultRequestTimeout
}

// writeTimeout bounds the writing of one answer: request_timeout plus
// 10 s, so that a 503 for a wait that ran out is always written.
func writeTimeout(cfg server.Config) time.Duration { return requestTimeout(cfg) + 10*time.Second }

func runServe(ctx context.Context, cmd *cobra.Command, f serveFlags) error {
	cfg, err := loadServeConfig(f)
	if err != nil {
		return err
	}
	logger, level, err := newLogger(cfg.Log.Format, cfg.Log.Level)
	if err != nil {
		return err
	}
	routeLibraryLogs(logger)
	// SIGHUP reloads the config; caught from here on, so that one sent
	// while the server starts does not end the process.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	sim, err := startSimFor(&cfg, logger)
	if err != nil {
		return err
	}
	defer sim.close()
	srv, err := server.New(cfg, server.WithLogger(logger))
	if err != nil {
		return err
	}
	if err := checkStateAtStart(ctx, srv, logger); err != nil {
		srv.Close()
		return err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		srv.Close()
		return err
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	l := &live{cur: startGeneration(runCtx, srv, cfg), writeTimeout: writeTimeout(cfg)}
	defer func() { l.current().retire() }()
	r := &reloader{flags: f, live: l, sim: sim, level: level, logger: logger}
	reloads := make(chan struct{})
	go func() {
		defer close(reloads)
		r.run(runCtx, hup)
	}()
	defer func() { cancel(); <-reloads }()
	hs := &http.Server{Handler: l, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: writeTimeout(cfg), IdleTimeout: 2 * time.Minute, ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
	scheme := "http"
	if cfg.TLS.Cert != "" && cfg.TLS.Key != "" {
		scheme = "https"
	}
	logger.Info("wxtoken serving", "url", scheme+"://"+ln.Addr().String(), "apps", len(cfg.Apps), "auth", !cfg.InsecureNoAuth)
	fmt.Fprintf(cmd.OutOrStdout(), "wxtoken serving on %s://%s\n", scheme, ln.Addr())
	serve := func() error { return hs.Serve(ln) }
	if scheme == "https" {
		serve = func() error { return hs.ServeTLS(ln, cfg.TLS.Cert, cfg.TLS.Key) }
	}
	defer logger.Info("wxtoken stopped")
	sim.pushTo(runCtx, scheme+"://"+ln.Addr().String(), cfg)
	return serveUntilDone(ctx, hs, serve)
}
