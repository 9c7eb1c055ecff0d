package cache

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// ParseRedisURL turns REDIS_URL into go-redis UniversalOptions. The scheme names the topology:
//
//	redis://[[user]:pass@]host[:port][/db][?option=value&...]    one server (port 6379, db 0)
//	rediss://...                                                 the same over TLS
//	redis-cluster://[[user]:pass@]host1[:port1],host2[:port2],...[?option=value&...]
//	                                                             Redis Cluster; the hosts are seeds
//	rediss-cluster://...                                         the same over TLS
//	redis-sentinel://[[user]:pass@]host1[:port1],host2[:port2],.../master-name[?db=N&option=value&...]
//	                                                             Sentinel (port 26379); user and pass
//	                                                             are the Redis servers' credentials,
//	                                                             sentinel_username and
//	                                                             sentinel_password the sentinels'
//	rediss-sentinel://...                                        the same over TLS
//
// The work is go-redis's: each form is rewritten into the URL that go-redis's own parser for
// that topology takes (ParseURL, ParseClusterURL, ParseFailoverURL), so the options are
// go-redis's (dial_timeout, read_timeout, pool_size, max_retries, ...; see its documentation).
// go-redis's cluster and failover forms (redis://host?addr=host2&...) cannot be told apart from
// a single server by their scheme, which is why the topology is in the scheme here. Extra seeds
// may also be given as go-redis does, with addr=host:port options. Over TLS, certificates are
// checked against the first host's name, as go-redis does.
//
// A password that contains one of ":/?#[]@%" should be percent-encoded, but the user info is
// taken up to the last "@", so most unencoded passwords work too. Errors say what is wrong
// without ever quoting the user info.
func ParseRedisURL(raw string) (*redis.UniversalOptions, error) {
	o, err := parseRedisURL(raw)
	if err != nil {
		return nil, fmt.Errorf("cache: REDIS_URL %s: %w", redact(raw), err)
	}
	return o, nil
}

const schemes = "redis://, rediss://, redis-cluster://, rediss-cluster://, redis-sentinel:// or rediss-sentinel://"

func parseRedisURL(raw string) (*redis.UniversalOptions, error) {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return nil, errors.New("no scheme: want " + schemes)
	}
	scheme, topology, dash := strings.Cut(scheme, "-")
	if (scheme != "redis" && scheme != "rediss") || (dash && topology != "cluster" && topology != "sentinel") {
		return nil, errors.New("unknown scheme: want " + schemes)
	}

	// The user info runs to the last "@" rather than to the first "/", "?" or "#" as in RFC 3986,
	// so that an unencoded password never spills into the host or path, and from there into an
	// error message.
	var user *url.Userinfo
	if i := strings.LastIndexByte(rest, '@'); i >= 0 {
		var err error
		if user, err = parseUserinfo(rest[:i]); err != nil {
			return nil, err
		}
		rest = rest[i+1:]
	}
	hostList, tail := rest, ""
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		hostList, tail = rest[:i], rest[i:]
	}
	u, err := url.Parse("redis://host" + tail)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // without the placeholder URL, which would only confuse
		}
		return nil, err
	}
	if strings.Contains(tail, "#") {
		return nil, errors.New(`unexpected "#" fragment`)
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return nil, errors.New("malformed query: check its %-escapes")
	}

	var o *redis.UniversalOptions
	switch topology {
	case "":
		o, err = parseSingle(scheme, user, hostList, tail)
	case "cluster":
		o, err = parseCluster(scheme, user, hostList, u.Path, q)
	default:
		o, err = parseSentinel(scheme, user, hostList, u.Path, q)
	}
	if err == nil && (o.ReadOnly || o.RouteByLatency || o.RouteRandomly) {
		// Replicas lag behind their master, so a read there can miss a generation that a write
		// just bumped and serve the answer the write replaced.
		return nil, errors.New("read_only, replica_only, route_by_latency and route_randomly are refused: a replica may lag behind a write's generation bump")
	}
	return o, err
}

// parseSingle parses the one-server form with go-redis's ParseURL.
func parseSingle(scheme string, user *url.Userinfo, hostList, tail string) (*redis.UniversalOptions, error) {
	if strings.Contains(hostList, ",") {
		return nil, fmt.Errorf("%s:// names one server: use %s-cluster:// or %s-sentinel:// to name several", scheme, scheme, scheme)
	}
	if hostList != "" { // empty is go-redis's localhost:6379
		if _, err := hostPort(hostList, "6379"); err != nil {
			return nil, err
		}
	}
	// Without the user info: go-redis's errors may quote the URL it was given.
	o, err := redis.ParseURL(scheme + "://" + hostList + tail)
	if err != nil {
		return nil, err
	}
	u := fromOptions(o)
	u.Username, u.Password = credentials(user)
	return u, nil
}

// parseCluster parses the cluster form with go-redis's ParseClusterURL.
func parseCluster(scheme string, user *url.Userinfo, hostList, path string, q url.Values) (*redis.UniversalOptions, error) {
	if path != "" && path != "/" {
		return nil, fmt.Errorf("unexpected path %q: a cluster has only database 0", path)
	}
	hosts, err := hostPorts(hostList, "6379")
	if err != nil {
		return nil, err
	}
	for _, h := range hosts[1:] {
		q.Add("addr", h)
	}
	o, err := redis.ParseClusterURL(scheme + "://" + hosts[0] + "?" + q.Encode())
	if err != nil {
		return nil, err
	}
	u := fromCluster(o)
	u.Username, u.Password = credentials(user)
	// Even with one seed: a UniversalClient given one address would otherwise talk to that node
	// alone and fail on every key of another node's slots.
	u.IsClusterMode = true
	return u, nil
}

// parseSentinel parses the sentinel form with go-redis's ParseFailoverURL.
func parseSentinel(scheme string, user *url.Userinfo, hostList, path string, q url.Values) (*redis.UniversalOptions, error) {
	master := strings.TrimPrefix(path, "/")
	switch {
	case strings.Contains(master, "/"):
		return nil, fmt.Errorf("path %q: want /master-name", path)
	case master != "" && q.Has("master_name"):
		return nil, errors.New("master name given twice, as the path and as master_name")
	case master == "" && q.Get("master_name") == "":
		return nil, errors.New("no master name: give it as the path, as in redis-sentinel://host:26379/mymaster")
	case q.Has("username") || q.Has("password"):
		// go-redis would take them, but passwords belong in the user info, which errors never quote.
		return nil, errors.New("unexpected username or password option: give the Redis servers' credentials as user:pass@")
	}
	if master != "" {
		q.Set("master_name", master)
	}
	sentinelUser, sentinelPass := q.Get("sentinel_username"), q.Get("sentinel_password")
	q.Del("sentinel_username")
	q.Del("sentinel_password")
	hosts, err := hostPorts(hostList, "26379")
	if err != nil {
		return nil, err
	}
	for _, h := range hosts[1:] {
		q.Add("addr", h)
	}
	o, err := redis.ParseFailoverURL(scheme + "://" + hosts[0] + "?" + q.Encode())
	if err != nil {
		return nil, err
	}
	u := fromFailover(o)
	u.Username, u.Password = credentials(user)
	u.SentinelUsername, u.SentinelPassword = sentinelUser, sentinelPass
	return u, nil
}

// parseUserinfo decodes "user:pass" or "user". Its errors never quote it.
func parseUserinfo(s string) (*url.Userinfo, error) {
	name, pass, hasPass := strings.Cut(s, ":")
	name, err1 := url.PathUnescape(name)
	pass, err2 := url.PathUnescape(pass)
	if err1 != nil || err2 != nil {
		return nil, errors.New("user info has an invalid %-escape")
	}
	if !hasPass {
		return url.User(name), nil
	}
	return url.UserPassword(name, pass), nil
}

func credentials(u *url.Userinfo) (name, pass string) {
	if u == nil {
		return "", ""
	}
	pass, _ = u.Password()
	return u.Username(), pass
}

// hostPorts splits a comma-separated host list, adding defPort where a port is missing.
func hostPorts(list, defPort string) ([]string, error) {
	if list == "" {
		return nil, errors.New("no host")
	}
	hosts := strings.Split(list, ",")
	for i, h := range hosts {
		var err error
		if hosts[i], err = hostPort(h, defPort); err != nil {
			return nil, err
		}
	}
	return hosts, nil
}

// hostPort checks one host[:port] (an IPv6 address in brackets) and adds defPort if no port.
func hostPort(h, defPort string) (string, error) {
	if h == "" {
		return "", errors.New("empty host in the host list")
	}
	host, port, err := net.SplitHostPort(h)
	if err != nil { // no port, or garbage
		host, port = h, defPort
		if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
			host = h[1 : len(h)-1]
		} else if strings.Contains(h, ":") {
			return "", fmt.Errorf("invalid host %q: an IPv6 address needs brackets, as in [::1]:6379", h)
		}
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("invalid port in host %q", h)
	}
	if host == "" || strings.ContainsAny(host, "[]/?#@ ") {
		return "", fmt.Errorf("invalid host %q", h)
	}
	return net.JoinHostPort(host, port), nil
}

// redact returns raw for an error message, with any user info and password option replaced by
// "xxxxx" so that no part of a password (nor a password mistakenly given as the user name) shows.
func redact(raw string) string {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok || strings.ContainsAny(scheme, ":@") {
		if strings.Contains(raw, "@") {
			return "(not shown: it has user info but no scheme)"
		}
		return strconv.Quote(raw)
	}
	if i := strings.LastIndexByte(rest, '@'); i >= 0 {
		rest = "xxxxx" + rest[i:]
	}
	if path, query, ok := strings.Cut(rest, "?"); ok {
		opts := strings.Split(query, "&")
		for i, kv := range opts {
			if k, _, _ := strings.Cut(kv, "="); strings.Contains(strings.ToLower(k), "password") {
				opts[i] = k + "=xxxxx"
			}
		}
		rest = path + "?" + strings.Join(opts, "&")
	}
	return strconv.Quote(scheme + "://" + rest)
}

// fromOptions copies the fields that go-redis's ParseURL sets.
func fromOptions(o *redis.Options) *redis.UniversalOptions {
	return &redis.UniversalOptions{
		Addrs:                   []string{o.Addr},
		DB:                      o.DB,
		TLSConfig:               o.TLSConfig,
		Protocol:                o.Protocol,
		ClientName:              o.ClientName,
		MaxRetries:              o.MaxRetries,
		MinRetryBackoff:         o.MinRetryBackoff,
		MaxRetryBackoff:         o.MaxRetryBackoff,
		DialTimeout:             o.DialTimeout,
		ReadTimeout:             o.ReadTimeout,
		WriteTimeout:            o.WriteTimeout,
		PoolFIFO:                o.PoolFIFO,
		PoolSize:                o.PoolSize,
		PoolTimeout:             o.PoolTimeout,
		MinIdleConns:            o.MinIdleConns,
		MaxIdleConns:            o.MaxIdleConns,
		MaxActiveConns:          o.MaxActiveConns,
		MaxConcurrentDials:      o.MaxConcurrentDials,
		PipelinePoolSize:        o.PipelinePoolSize,
		PipelineReadBufferSize:  o.PipelineReadBufferSize,
		PipelineWriteBufferSize: o.PipelineWriteBufferSize,
		ConnMaxIdleTime:         o.ConnMaxIdleTime,
		ConnMaxLifetime:         o.ConnMaxLifetime,
		ConnMaxLifetimeJitter:   o.ConnMaxLifetimeJitter,
	}
}

// fromCluster copies the fields that go-redis's ParseClusterURL sets.
func fromCluster(o *redis.ClusterOptions) *redis.UniversalOptions {
	return &redis.UniversalOptions{
		Addrs:                   o.Addrs,
		TLSConfig:               o.TLSConfig,
		Protocol:                o.Protocol,
		ClientName:              o.ClientName,
		MaxRedirects:            o.MaxRedirects,
		ReadOnly:                o.ReadOnly,
		RouteByLatency:          o.RouteByLatency,
		RouteByLatencyTolerance: o.RouteByLatencyTolerance,
		RouteRandomly:           o.RouteRandomly,
		MaxRetries:              o.MaxRetries,
		MinRetryBackoff:         o.MinRetryBackoff,
		MaxRetryBackoff:         o.MaxRetryBackoff,
		DialTimeout:             o.DialTimeout,
		DialerRetries:           o.DialerRetries,
		DialerRetryTimeout:      o.DialerRetryTimeout,
		ReadTimeout:             o.ReadTimeout,
		WriteTimeout:            o.WriteTimeout,
		PoolFIFO:                o.PoolFIFO,
		PoolSize:                o.PoolSize,
		MaxConcurrentDials:      o.MaxConcurrentDials,
		MinIdleConns:            o.MinIdleConns,
		MaxIdleConns:            o.MaxIdleConns,
		MaxActiveConns:          o.MaxActiveConns,
		PipelinePoolSize:        o.PipelinePoolSize,
		PipelineReadBufferSize:  o.PipelineReadBufferSize,
		PipelineWriteBufferSize: o.PipelineWriteBufferSize,
		PoolTimeout:             o.PoolTimeout,
		ConnMaxLifetime:         o.ConnMaxLifetime,
		ConnMaxLifetimeJitter:   o.ConnMaxLifetimeJitter,
		ConnMaxIdleTime:         o.ConnMaxIdleTime,
		FailingTimeoutSeconds:   o.FailingTimeoutSeconds,
	}
}

// fromFailover copies the fields that go-redis's ParseFailoverURL sets. UniversalOptions has one
// ReadOnly for go-redis's ReplicaOnly.
func fromFailover(o *redis.FailoverOptions) *redis.UniversalOptions {
	return &redis.UniversalOptions{
		Addrs:                   o.SentinelAddrs,
		MasterName:              o.MasterName,
		DB:                      o.DB,
		TLSConfig:               o.TLSConfig,
		ClientName:              o.ClientName,
		RouteByLatency:          o.RouteByLatency,
		RouteByLatencyTolerance: o.RouteByLatencyTolerance,
		RouteRandomly:           o.RouteRandomly,
		ReadOnly:                o.ReplicaOnly,
		Protocol:                o.Protocol,
		MaxRetries:              o.MaxRetries,
		MinRetryBackoff:         o.MinRetryBackoff,
		MaxRetryBackoff:         o.MaxRetryBackoff,
		DialTimeout:             o.DialTimeout,
		DialerRetries:           o.DialerRetries,
		DialerRetryTimeout:      o.DialerRetryTimeout,
		ReadTimeout:             o.ReadTimeout,
		WriteTimeout:            o.WriteTimeout,
		ContextTimeoutEnabled:   o.ContextTimeoutEnabled,
		PoolFIFO:                o.PoolFIFO,
		PoolSize:                o.PoolSize,
		MaxConcurrentDials:      o.MaxConcurrentDials,
		MinIdleConns:            o.MinIdleConns,
		MaxIdleConns:            o.MaxIdleConns,
		MaxActiveConns:          o.MaxActiveConns,
		PipelinePoolSize:        o.PipelinePoolSize,
		PipelineReadBufferSize:  o.PipelineReadBufferSize,
		PipelineWriteBufferSize: o.PipelineWriteBufferSize,
		ConnMaxLifetime:         o.ConnMaxLifetime,
		ConnMaxLifetimeJitter:   o.ConnMaxLifetimeJitter,
		ConnMaxIdleTime:         o.ConnMaxIdleTime,
		PoolTimeout:             o.PoolTimeout,
		DisableIdentity:         o.DisableIdentity,
		IdentitySuffix:          o.IdentitySuffix,
	}
}
