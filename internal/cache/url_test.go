package cache_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"github.com/livechat-gateway/gateway/internal/cache"
)

func TestParseRedisURL(t *testing.T) {
	t.Parallel()
	// want holds the fields that matter; TLS is compared as on/off, with the server name.
	type want struct {
		Addrs            []string
		DB               int
		Username         string
		Password         string
		SentinelUsername string
		SentinelPassword string
		MasterName       string
		IsClusterMode    bool
		TLSServerName    string
		DialTimeout      time.Duration
		ReadTimeout      time.Duration
		PoolSize         int
	}
	for _, tc := range []struct {
		url  string
		want want
	}{
		{"redis://localhost:6379", want{Addrs: []string{"localhost:6379"}}},
		{"redis://cache.internal", want{Addrs: []string{"cache.internal:6379"}}},
		{"redis://", want{Addrs: []string{"localhost:6379"}}},
		{"redis://10.0.0.5:6380/3", want{Addrs: []string{"10.0.0.5:6380"}, DB: 3}},
		{"redis://[::1]:6379/0", want{Addrs: []string{"[::1]:6379"}}},
		{"redis://:s3cret@h:1", want{Addrs: []string{"h:1"}, Password: "s3cret"}},
		{"redis://gw:s3cret@h:1/2?dial_timeout=250ms&read_timeout=1&pool_size=7",
			want{Addrs: []string{"h:1"}, DB: 2, Username: "gw", Password: "s3cret",
				DialTimeout: 250 * time.Millisecond, ReadTimeout: time.Second, PoolSize: 7}},
		// Unencoded characters in the password: the user info runs to the last "@".
		{"redis://:ab/c?d#e@f@h:1", want{Addrs: []string{"h:1"}, Password: "ab/c?d#e@f"}},
		{"redis://:p%40ss%3A@h:1", want{Addrs: []string{"h:1"}, Password: "p@ss:"}},
		{"rediss://:s3cret@redis.example.com:6380", want{Addrs: []string{"redis.example.com:6380"},
			Password: "s3cret", TLSServerName: "redis.example.com"}},

		{"redis-cluster://n1:7000,n2:7001,n3", want{Addrs: []string{"n1:7000", "n2:7001", "n3:6379"}, IsClusterMode: true}},
		{"redis-cluster://n1:7000", want{Addrs: []string{"n1:7000"}, IsClusterMode: true}},
		{"redis-cluster://n1:7000/?addr=n2:7001&read_timeout=20ms",
			want{Addrs: []string{"n1:7000", "n2:7001"}, IsClusterMode: true, ReadTimeout: 20 * time.Millisecond}},
		{"rediss-cluster://gw:s3cret@n1:7000,n2:7001", want{Addrs: []string{"n1:7000", "n2:7001"},
			Username: "gw", Password: "s3cret", IsClusterMode: true, TLSServerName: "n1"}},

		{"redis-sentinel://s1,s2:26380/mymaster", want{Addrs: []string{"s1:26379", "s2:26380"}, MasterName: "mymaster"}},
		{"redis-sentinel://:s3cret@s1/mymaster?db=2&sentinel_password=sp&sentinel_username=su&dial_timeout=1s",
			want{Addrs: []string{"s1:26379"}, MasterName: "mymaster", DB: 2, Password: "s3cret",
				SentinelUsername: "su", SentinelPassword: "sp", DialTimeout: time.Second}},
		{"redis-sentinel://s1?master_name=mymaster", want{Addrs: []string{"s1:26379"}, MasterName: "mymaster"}},
		{"rediss-sentinel://s1.example.com/m", want{Addrs: []string{"s1.example.com:26379"}, MasterName: "m",
			TLSServerName: "s1.example.com"}},
	} {
		t.Run(tc.url, func(t *testing.T) {
			o, err := cache.ParseRedisURL(tc.url)
			if err != nil {
				t.Fatalf("ParseRedisURL(%q) = %v", tc.url, err)
			}
			got := want{
				Addrs: o.Addrs, DB: o.DB, Username: o.Username, Password: o.Password,
				SentinelUsername: o.SentinelUsername, SentinelPassword: o.SentinelPassword,
				MasterName: o.MasterName, IsClusterMode: o.IsClusterMode,
				DialTimeout: o.DialTimeout, ReadTimeout: o.ReadTimeout, PoolSize: o.PoolSize,
			}
			if o.TLSConfig != nil {
				got.TLSServerName = o.TLSConfig.ServerName
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ParseRedisURL(%q) mismatch (-want +got):\n%s", tc.url, diff)
			}
			// The options must pick the client the form names.
			c := redis.NewUniversalClient(o)
			defer c.Close()
			var kind string
			switch c.(type) {
			case *redis.ClusterClient:
				kind = "cluster"
			case *redis.Client:
				kind = "single or sentinel"
			}
			wantKind := "single or sentinel"
			if tc.want.IsClusterMode {
				wantKind = "cluster"
			}
			if kind != wantKind {
				t.Errorf("NewUniversalClient(ParseRedisURL(%q)) is a %T; want a %s client", tc.url, c, wantKind)
			}
		})
	}
}

func TestParseRedisURLErrors(t *testing.T) {
	t.Parallel()
	const password = "s3cretPW"
	for _, tc := range []struct {
		url  string
		want string // in the error
	}{
		{"", "no scheme"},
		{"localhost:6379", "no scheme"},
		{"gw:" + password + "@localhost:6379", "no scheme"},
		{"gw:" + password + "@localhost:6379/0?x=redis://y", "unknown scheme"},
		{"http://:" + password + "@h:1", "unknown scheme"},
		{"redis-ring://:" + password + "@h:1", "unknown scheme"},
		{"redis-://:" + password + "@h:1", "unknown scheme"},
		{"unix://:" + password + "@/tmp/redis.sock", "unknown scheme"},
		{"redis://:" + password + "@h:notaport", "invalid port"},
		{"redis://:" + password + "@h:70000", "invalid port"},
		{"redis://:" + password + "@::1:6379", "brackets"},
		{"redis://:" + password + "@h:1/abc", "invalid database number"},
		{"redis://:" + password + "@h:1/0/1", "invalid URL path"},
		{"redis://:" + password + "@h:1?bogus=1", "unexpected option: bogus"},
		{"redis://:" + password + "@h:1?dial_timeout=soon", "dial_timeout"},
		{"redis://:" + password + "@h:1#frag", "fragment"},
		{"redis://:" + password + "@h:1?a=%zz", "malformed query"},
		{"redis://:" + password + "@h:1/%zz", "invalid URL escape"},
		{"redis://:" + password + "%zz@h:1", "invalid %-escape"},
		{"redis://:" + password + "@h1:1,h2:2", "use redis-cluster://"},
		{"redis://:" + password + "@h:1?read_only=true", "unexpected option: read_only"},
		{"redis-sentinel://s1/m?sentinel_password=" + password + "&bogus=1", "unexpected option: bogus"},
		{"redis-cluster://:" + password + "@", "no host"},
		{"redis-cluster://:" + password + "@h1:1,,h2:2", "empty host"},
		{"redis-cluster://:" + password + "@h1:1,h2:x", "invalid port"},
		{"redis-cluster://:" + password + "@h1:1/3", "only database 0"},
		{"redis-cluster://:" + password + "@h1:1?addr=nonsense", "addr"},
		{"redis-cluster://:" + password + "@h1:1?route_randomly=true", "replica"},
		{"redis-sentinel://:" + password + "@s1", "no master name"},
		{"redis-sentinel://:" + password + "@s1/m/x", "want /master-name"},
		{"redis-sentinel://:" + password + "@s1/m?master_name=n", "given twice"},
		{"redis-sentinel://s1/m?password=" + password, "user:pass@"},
		{"redis-sentinel://:" + password + "@s1/m?db=x", "invalid database number"},
		{"redis-sentinel://:" + password + "@s1/m?replica_only=true", "replica"},
	} {
		t.Run(tc.url, func(t *testing.T) {
			o, err := cache.ParseRedisURL(tc.url)
			if err == nil {
				t.Fatalf("ParseRedisURL(%q) = %+v, nil; want an error", tc.url, o)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ParseRedisURL(%q) = %v; want an error that says %q", tc.url, err, tc.want)
			}
			if strings.Contains(err.Error(), password) || strings.Contains(err.Error(), "cret") {
				t.Errorf("ParseRedisURL(%q) = %v; the error shows the password", tc.url, err)
			}
		})
	}
}
