package server

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"
)

// Verdicts of a StateDurability.
const (
	Durable  = "durable"  // keeps what it acknowledged through restarts, and evicts nothing without a TTL
	Volatile = "volatile" // loses data on a restart, or evicts it
	Unknown  = "unknown"  // could not tell
)

// StateDurability says whether the state store keeps what it holds: the
// tenant registries, permanent codes, refresh tokens and pushed tickets,
// which upstream never gives twice.
type StateDurability struct {
	Store   string `json:"store"` // its URL, password masked
	Verdict string `json:"verdict"`
	Detail  string `json:"detail"`
}

// durability judges the store by its kind, and a Redis by its
// persistence and eviction settings (CONFIG GET, on every master of a
// cluster).
func (st *openedStore) durability(ctx context.Context) StateDurability {
	d := StateDurability{Store: st.url, Verdict: Durable}
	switch st.scheme {
	case "memory":
		d.Verdict, d.Detail = Volatile, "memory:// is lost when the process ends"
	case "memcache":
		d.Verdict, d.Detail = Volatile, "memcached evicts items at will, and deletes the item a refused SET (one over its item size) was to replace"
	case "file":
		d.Detail = "files written by fsync and atomic rename"
	case "etcd":
		d.Detail = "etcd keeps what it acknowledged in its replicated log"
	default:
		if st.redis != nil {
			return redisDurability(ctx, st.url, st.redis)
		}
		d.Verdict, d.Detail = Unknown, "a store of kind "+st.scheme
	}
	return d
}

// redisDurability reads appendonly, save and maxmemory-policy.
func redisDurability(ctx context.Context, url string, rdb redis.UniversalClient) StateDurability {
	var verdicts []StateDurability
	check := func(ctx context.Context, c *redis.Client) error {
		verdicts = append(verdicts, judgeRedis(ctx, url, c))
		return nil
	}
	var err error
	if cc, ok := rdb.(*redis.ClusterClient); ok {
		err = cc.ForEachMaster(ctx, check)
	} else if c, ok := rdb.(*redis.Client); ok {
		err = check(ctx, c)
	} else {
		return StateDurability{Store: url, Verdict: Unknown, Detail: fmt.Sprintf("a Redis client of type %T", rdb)}
	}
	if err != nil {
		return StateDurability{Store: url, Verdict: Unknown, Detail: "Redis did not answer: " + err.Error()}
	}
	if len(verdicts) == 0 {
		return StateDurability{Store: url, Verdict: Unknown, Detail: "no Redis master answered"}
	}
	// The worst master decides.
	rank := map[string]int{Durable: 0, Unknown: 1, Volatile: 2}
	worst := verdicts[0]
	for _, v := range verdicts[1:] {
		if rank[v.Verdict] > rank[worst.Verdict] {
			worst = v
		}
	}
	return worst
}

// judgeRedis asks one Redis server for its settings.
func judgeRedis(ctx context.Context, url string, c *redis.Client) StateDurability {
	d := StateDurability{Store: url}
	conf := map[string]string{}
	for _, name := range []string{"appendonly", "save", "maxmemory-policy"} {
		m, err := c.ConfigGet(ctx, name).Result()
		if err != nil {
			d.Verdict = Unknown
			d.Detail = "CONFIG GET " + name + " was refused (" + redisRefusal(err) + "): make sure this Redis persists (appendonly yes) and evicts no key without a TTL (noeviction or a volatile-* maxmemory-policy)"
			return d
		}
		conf[name] = m[name]
	}
	if p := conf["maxmemory-policy"]; strings.HasPrefix(p, "allkeys-") {
		d.Verdict, d.Detail = Volatile, "maxmemory-policy "+p+" evicts any key when memory runs out, tenant state included; use noeviction or a volatile-* policy"
		return d
	}
	switch {
	case conf["appendonly"] == "yes":
		d.Verdict, d.Detail = Durable, "append-only file on"
	case strings.TrimSpace(conf["save"]) != "":
		d.Verdict, d.Detail = Durable, "RDB snapshots (save "+conf["save"]+"): a crash loses the writes since the last one, which the instances then re-publish from memory"
	default:
		d.Verdict, d.Detail = Volatile, `no persistence (appendonly no, save ""): a restart loses every key`
	}
	return d
}

// redisRefusal says why Redis refused a command, without the server's
// host.
func redisRefusal(err error) string {
	msg := err.Error()
	switch {
	case strings.HasPrefix(msg, "NOPERM"):
		return "an ACL forbids CONFIG to this user"
	case strings.Contains(msg, "unknown command"):
		return "CONFIG is renamed or disabled"
	case errors.Is(err, context.DeadlineExceeded):
		return "no answer in time"
	}
	return msg
}

// needsDurableState reports whether cfg has apps whose state upstream
// never gives twice: suites and components (pushed tickets, tenants).
func (c *Config) needsDurableState() bool {
	for _, a := range c.Apps {
		if hasTenants(a.Kind) {
			return true
		}
	}
	return false
}

// stateField names the config field that chose the state store, for
// errors.
func (c *Config) stateField() string {
	if c.State != "" {
		return "state"
	}
	return "cache (also the state store: set state: to keep tenants elsewhere)"
}

// KeepsTenantState reports whether the config has suite or component
// apps, whose state (tickets, tenants) upstream never gives twice.
func (s *Server) KeepsTenantState() bool { return s.cfg.needsDurableState() }

// ErrVolatileState is wrapped by CheckState's error for a state store
// that loses what it holds, with apps that keep state and no
// accept_volatile_state.
var ErrVolatileState = errors.New("the state store can lose what upstream never gives twice")

// CheckState judges the state store (a Redis by its CONFIG) and, when it
// is volatile while suite or component apps keep state in it and the
// config does not accept that, returns an error wrapping ErrVolatileState
// that names the field. wxtoken serve calls it before serving.
func (s *Server) CheckState(ctx context.Context) (StateDurability, error) {
	d := s.stores.state.durability(ctx)
	if d.Verdict == Volatile && s.cfg.needsDurableState() && !s.cfg.AcceptVolatileState {
		return d, fmt.Errorf("%s: %w: %s. Use a durable store (a Redis with appendonly yes and maxmemory-policy noeviction, etcd, file://), or set accept_volatile_state: true for a demo or a test",
			s.cfg.stateField(), ErrVolatileState, d.Detail)
	}
	return d, nil
}
