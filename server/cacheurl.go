package server

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/redis/go-redis/v9"
	clientv3 "go.etcd.io/etcd/client/v3"
	"log/slog"

	etcdbackend "github.com/wxtoken/wxtoken/backends/etcd"
	filebackend "github.com/wxtoken/wxtoken/backends/file"
	memcachebackend "github.com/wxtoken/wxtoken/backends/memcache"
	redisbackend "github.com/wxtoken/wxtoken/backends/redis"
	"github.com/wxtoken/wxtoken/core"
)

type nopCloser struct{}

func (nopCloser) Close() error { return nil }

// OpenCache turns a cache URL into a backend and the client to close when
// done. Passwords in the URL never appear in its errors.
func OpenCache(raw string) (core.Cache, io.Closer, error) {
	st, err := openStore(raw, nil)
	if err != nil {
		return nil, nil, err
	}
	return st.cache, st.closer, nil
}

// openedStore is a store opened from its URL, with what can tell whether
// it keeps what it holds.
type openedStore struct {
	url    string // redacted
	scheme string
	cache  core.Cache
	closer io.Closer
	// redis is the client of a Redis store, whose persistence and
	// eviction settings can be asked; nil otherwise.
	redis redis.UniversalClient
}

func openStore(raw string, logger *slog.Logger) (*openedStore, error) {
	cache, closer, err := openCache(raw, logger)
	if err != nil {
		return nil, err
	}
	u, _ := url.Parse(raw)
	rdb, _ := closer.(redis.UniversalClient)
	return &openedStore{url: RedactURL(raw), scheme: u.Scheme, cache: cache, closer: closer, redis: rdb}, nil
}

// openCache opens the store of a cache URL; logger (nil: none) gets the
// etcd client's own messages.
func openCache(raw string, logger *slog.Logger) (core.Cache, io.Closer, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, nil, fmt.Errorf("cache URL: cannot parse (%s)", RedactURL(raw))
	}
	hosts := strings.Split(u.Host, ",")
	switch u.Scheme {
	case "memory":
		return core.NewMemoryCache(), nopCloser{}, nil
	case "file":
		if u.Host != "" {
			return nil, nil, fmt.Errorf("cache URL %s: file:// takes an absolute path and no host (%q would be read as a host): write file:///%s%s", RedactURL(raw), u.Host, u.Host, u.Path)
		}
		if u.Path == "" {
			return nil, nil, fmt.Errorf("cache URL: file:///path needs a path")
		}
		return filebackend.New(u.Path), nopCloser{}, nil
	case "redis", "rediss":
		opt, err := redis.ParseURL(raw)
		if err != nil {
			return nil, nil, fmt.Errorf("cache URL %s: %v", RedactURL(raw), err)
		}
		opt.ContextTimeoutEnabled = true
		c := redis.NewClient(opt)
		return redisbackend.New(c), c, nil
	case "redis+cluster", "rediss+cluster":
		opt, err := clusterOptions(u, hosts)
		if err != nil {
			return nil, nil, fmt.Errorf("cache URL %s: %v", RedactURL(raw), err)
		}
		c := redis.NewClusterClient(opt)
		return redisbackend.New(c), c, nil
	case "redis+sentinel", "rediss+sentinel":
		opt, err := sentinelOptions(u, hosts)
		if err != nil {
			return nil, nil, fmt.Errorf("cache URL %s: %v", RedactURL(raw), err)
		}
		c := redis.NewFailoverClient(opt)
		return redisbackend.New(c), c, nil
	case "memcache":
		mc := memcache.New(hosts...)
		mc.Timeout = time.Second
		return memcachebackend.New(mc), mc, nil
	case "etcd":
		pass, _ := u.User.Password()
		cli, err := clientv3.New(clientv3.Config{Endpoints: hosts, DialTimeout: 5 * time.Second, Logger: etcdLogger(logger),
			Username: u.User.Username(), Password: pass})
		if err != nil {
			return nil, nil, fmt.Errorf("cache URL %s: %v", RedactURL(raw), err)
		}
		return etcdbackend.New(cli), cli, nil
	}
	return nil, nil, fmt.Errorf("cache URL %s: unknown scheme %q", RedactURL(raw), u.Scheme)
}

// clusterOptions reads redis+cluster://[user:pass@]h1,h2,h3[?options]:
// the options are go-redis's ClusterOptions fields in snake case
// (pool_size=2, dial_timeout=3s, read_timeout=1s, ...), as
// redis.ParseClusterURL takes them.
func clusterOptions(u *url.URL, hosts []string) (*redis.ClusterOptions, error) {
	q := u.Query()
	for _, h := range hosts[1:] {
		q.Add("addr", h)
	}
	one := *u
	one.Scheme, one.Host, one.RawQuery = strings.TrimSuffix(u.Scheme, "+cluster"), hosts[0], q.Encode()
	opt, err := redis.ParseClusterURL(one.String())
	if err != nil {
		return nil, err
	}
	opt.ContextTimeoutEnabled = true
	return opt, nil
}

// sentinelOptions reads redis+sentinel://[user:pass@]s1,s2,s3/master[/db][?options]
// (rediss+sentinel:// for TLS): the credentials are the master's, the
// options go-redis's FailoverOptions fields in snake case, as
// redis.ParseFailoverURL takes them; unknown options are refused.
func sentinelOptions(u *url.URL, hosts []string) (*redis.FailoverOptions, error) {
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	if parts[0] == "" || len(parts) > 2 {
		return nil, errors.New("name the master, and the db if not 0: redis+sentinel://h1,h2/mymaster[/db]")
	}
	q := u.Query()
	for _, h := range hosts[1:] {
		q.Add("addr", h)
	}
	q.Set("master_name", parts[0])
	one := url.URL{Scheme: strings.TrimSuffix(u.Scheme, "+sentinel"), Host: hosts[0], RawQuery: q.Encode()}
	if len(parts) == 2 {
		one.Path = "/" + parts[1]
	}
	opt, err := redis.ParseFailoverURL(one.String())
	if err != nil {
		return nil, err
	}
	opt.Username = u.User.Username()
	opt.Password, _ = u.User.Password()
	opt.ContextTimeoutEnabled = true
	return opt, nil
}

// RedactURL returns a URL fit for logs and reports: its password, if it
// has one, replaced by "xxxxx".
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	if u.User == nil {
		return raw
	}
	return u.Redacted()
}
