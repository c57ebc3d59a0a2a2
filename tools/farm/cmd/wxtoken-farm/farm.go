package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/wxtoken/wxtoken/internal/localserver"
	"github.com/wxtoken/wxtoken/server"
	"github.com/wxtoken/wxtoken/tools/farm"
)

type farmFlags struct {
	cfg        farm.Config
	creds      string
	startStore string
	container  string
	jsonOut    string
	plotOut    string
	quiet      bool
	secretEnv  string
	secretFile string
	faults     map[farm.FaultKind]*[]string
}

func newFarmCmd() *cobra.Command {
	f := farmFlags{faults: make(map[farm.FaultKind]*[]string)}
	cmd := &cobra.Command{
		Use:   "wxtoken-farm",
		Short: "Run a fleet of nodes on a store, break it on purpose, and report what happened",
		Long: `Run a fleet of wxtoken nodes, each with its own Manager and its own client of
the store, against the built-in WeChat simulator (compressed lifetimes) or
an upstream of your own. Workers on every node take a token and spend it on
the simulator's business check; a refused token is reported, as an
application would. The report gives upstream calls against the ideal,
failed business calls by errcode, Token latency (overall and while a
refresh was in flight), lock waits, store operations, heap and goroutines.
The exit status is 1 when a business call failed or a credential was asked
more often than allowed.

With --upstream URL the fleet asks that upstream (a wxtoken sim, or WeChat
itself: mind the daily quota) for the account given by --appid (or
--corpid and --agent with --credentials wecom), its secret read from
--secret-env or --secret-file; faults on upstream need the built-in
simulator.

The store is a cache URL as serve takes it (memory://, file:///dir,
redis://, redis+cluster://, redis+sentinel://, memcache://, etcd://), or
--start-store redis|memcached|etcd starts one as a local process (which
--pause-store then freezes with SIGSTOP).

With --procs each node is a process of its own (this program, run again),
so --kill-holder kills a real process with SIGKILL; the store must then be
one they can all reach (not memory://).

Faults, each at its own time since the start (repeat a flag for more):
  --kill-holder AT             the node holding the refresh lock dies mid-refresh
  --pause-store DUR@AT         the store freezes for DUR
  --skew NODE=±DUR             a node's clock is off
  --upstream-latency DUR@AT[+FOR]
  --upstream-errors COUNT@AT   COUNT calls each answer -1, HTTP 500, dropped connection
  --revoke AT                  upstream kills the live tokens (a secret reset)
  --spurious RATE@AT[+FOR]     workers report valid tokens as rejected
  --pause-holder DUR@AT        the node sending the next token request freezes for DUR
                               right after sending it (with --procs: SIGSTOP, SIGCONT)
  --partition NODE=DUR@AT      that node's store connections hang for DUR`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runFarm(cmd, &f) },
	}
	fl := cmd.Flags()
	fl.IntVar(&f.cfg.Nodes, "nodes", 16, "nodes in the fleet")
	fl.IntVar(&f.cfg.Workers, "workers", 8, "workers per node")
	fl.DurationVar(&f.cfg.Duration, "duration", 0, "how long the traffic runs (default 5.5 lifetimes)")
	fl.StringVar(&f.cfg.Cache, "cache", "memory://", "the store, as a cache URL")
	fl.StringVar(&f.startStore, "start-store", "", "start a local store process for the run: redis, memcached or etcd")
	fl.StringVar(&f.container, "store-container", "", "the store's container, for --pause-store (docker pause)")
	fl.StringVar(&f.cfg.Upstream, "upstream", "", "an upstream of your own instead of the built-in simulator")
	fl.StringVar(&f.cfg.AppID, "appid", "", "with --upstream: the official account's appid")
	fl.StringVar(&f.cfg.CorpID, "corpid", "", "with --upstream: the WeCom corpid")
	fl.StringVar(&f.cfg.AgentID, "agent", "", "with --upstream: the WeCom agent id")
	fl.StringVar(&f.secretEnv, "secret-env", "", "with --upstream: environment variable holding the secret")
	fl.StringVar(&f.secretFile, "secret-file", "", "with --upstream: file holding the secret")
	fl.DurationVar(&f.cfg.Lifetime, "lifetime", 40*time.Second, "token lifetime the simulator grants")
	fl.DurationVar(&f.cfg.Overlap, "overlap", 5*time.Second, "how long a replaced token keeps working")
	fl.StringVar(&f.creds, "credentials", farm.KindOfficial, "credential kinds served, comma-separated: official, wecom")
	fl.DurationVar(&f.cfg.Pace, "pace", 10*time.Millisecond, "rest between two business calls of a worker")
	fl.StringVar(&f.jsonOut, "json", "", "also write the report as JSON to this file")
	fl.StringVar(&f.plotOut, "plot", "", "draw the run's timeline to this file (.png or .svg)")
	fl.BoolVar(&f.quiet, "quiet", false, "no progress line")
	fl.DurationVar(&f.cfg.Ramp, "ramp", 0, "start the nodes spread evenly over this long, as a rolling deploy (default all at once)")
	fl.BoolVar(&f.cfg.PollOnly, "poll-only", false, "nodes with nothing to serve poll for the lock even on a store that announces writes (to compare)")
	fl.BoolVar(&f.cfg.NoBalancer, "no-balancer", false, "keep each node's callers on it even when its store does not answer (by default a balancer takes such a node out of rotation)")
	fl.BoolVar(&f.cfg.Procs, "procs", false, "run each node as an OS process of its own (--kill-holder then sends SIGKILL)")
	for _, k := range []farm.FaultKind{farm.KillHolder, farm.PauseStore, farm.Skew, farm.UpstreamLatency,
		farm.UpstreamErrors, farm.Revoke, farm.Spurious, farm.PauseHolder, farm.Partition} {
		f.faults[k] = fl.StringArray(string(k), nil, "fault: see above")
	}
	return cmd
}

// errFarmFailed makes the exit status 1 after the report is printed.
var errFarmFailed = errors.New("farm: the fleet broke a promise (see the report)")

func runFarm(cmd *cobra.Command, f *farmFlags) error {
	cfg := f.cfg
	cfg.Credentials = strings.Split(f.creds, ",")
	for kind, specs := range f.faults {
		for _, s := range *specs {
			fault, err := farm.ParseFault(kind, s)
			if err != nil {
				return err
			}
			cfg.Faults = append(cfg.Faults, fault)
		}
	}
	if cfg.Upstream != "" {
		secret, err := server.ReadSecret(f.secretEnv, f.secretFile)
		if err != nil {
			return fmt.Errorf("farm: the account's secret: %w", err)
		}
		cfg.Secret = secret
	}
	if f.startStore != "" {
		if cmd.Flags().Changed("cache") {
			return errors.New("farm: give --cache or --start-store, not both")
		}
		srv, url, err := startStore(f.startStore)
		if err != nil {
			return err
		}
		defer srv.Close()
		cfg.Cache = url
		cfg.StoreControl = farm.ProcessControl{Pid: srv.Pid()}
	}
	if f.container != "" {
		cfg.StoreControl = farm.ContainerControl{ID: f.container}
	}
	if !f.quiet {
		cfg.Progress = cmd.ErrOrStderr()
	}
	if cfg.Procs {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("farm: --procs runs this program again: %w", err)
		}
		stderr := cmd.ErrOrStderr()
		if _, ok := stderr.(*os.File); !ok { // every node process writes to it at once
			stderr = &lockedWriter{w: stderr}
		}
		cfg.NodeCommand = func() *exec.Cmd {
			c := exec.Command(exe, "node")
			c.Stderr = stderr
			return c
		}
	}
	cfg.Logger = slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	rep, tl, err := farm.Run(cmd.Context(), cfg)
	if rep == nil {
		return err
	}
	if werr := rep.WriteTable(cmd.OutOrStdout()); werr != nil {
		return werr
	}
	if f.jsonOut != "" {
		if werr := writeFile(f.jsonOut, rep.WriteJSON); werr != nil {
			return werr
		}
	}
	if f.plotOut != "" {
		if werr := farm.WritePlot(f.plotOut, rep, tl); werr != nil {
			return werr
		}
	}
	if err != nil {
		return err
	}
	if !rep.OK() {
		return errFarmFailed
	}
	return nil
}

// startStore starts a local store process and returns its cache URL.
func startStore(kind string) (*localserver.Server, string, error) {
	switch kind {
	case "redis":
		s, err := localserver.Redis()
		if err != nil {
			return nil, "", err
		}
		return s, "redis://" + s.Addr + "/0", nil
	case "memcached":
		s, err := localserver.Memcached()
		if err != nil {
			return nil, "", err
		}
		return s, "memcache://" + s.Addr, nil
	case "etcd":
		s, err := localserver.Etcd()
		if err != nil {
			return nil, "", err
		}
		return s, "etcd://" + s.Addr, nil
	}
	return nil, "", fmt.Errorf("farm: --start-store %q: want redis, memcached or etcd", kind)
}

func writeFile(path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// newFarmNodeCmd is one node of `wxtoken-farm --procs`: it reads its spec
// on standard input and reports on standard output.
func newFarmNodeCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "node",
		Short:  "One node of wxtoken-farm --procs (started by the farm, not by hand)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return farm.RunNodeProcess(cmd.Context(), cmd.InOrStdin(), cmd.OutOrStdout())
		},
	}
}

// lockedWriter serialises writes from several node processes' output.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
