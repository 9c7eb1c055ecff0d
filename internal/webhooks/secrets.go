package webhooks

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

// Registry knows the webhooks' secrets, as keyed hashes: HMAC-SHA256 of the webhook id and the
// secret under a key derived from CACHE_KEY_SECRET (or a random one of the process's), so that
// neither Redis nor a memory dump gives a secret away, and a hash cannot be checked without the
// key. Verify compares in constant time.
//
// Secrets come from two places: those configured (WEBHOOK_SECRETS), held in process, as every
// replica reads the same configuration; and those learned from the writes that set them
// (register_webhook, create_bot, update_bot), which every replica must know, since LiveChat
// delivers to whichever replica its load balancer picks. With Redis and a shared key, learned
// hashes are fields of one Redis hash, lcgw:webhooks:secrets, with no TTL: a webhook lives until
// it is unregistered, which may happen elsewhere, so the gateway cannot tell when its secret is
// no longer needed. The hash is bounded instead: at most max webhooks (WEBHOOK_MAX_SECRETS);
// past it a new webhook's secret is not recorded (and said in the log), while a known one's is
// still replaced. Without Redis, or without a shared key (a random key's hashes would be useless
// to every other replica, and to this one after a restart), learned hashes stay in process,
// with the same bound.
type Registry struct {
	key        []byte
	max        int
	configured map[string][]byte // from WEBHOOK_SECRETS
	redis      redis.UniversalClient

	mu      sync.Mutex
	learned map[string][]byte // without Redis
	pinned  map[string]string // without Redis: the license of each webhook's deliveries
}

// registryKey is the Redis hash of the learned secrets' hashes. It holds no secret.
const registryKey = "lcgw:webhooks:secrets"

// DefaultMaxSecrets bounds the learned secrets by default (WEBHOOK_MAX_SECRETS).
const DefaultMaxSecrets = 100_000

// ErrRegistryFull reports a secret not learned because the registry holds max webhooks already.
var ErrRegistryFull = errors.New("webhooks: the secret registry is full (WEBHOOK_MAX_SECRETS); this webhook's deliveries will be refused")

// NewRegistry returns a Registry whose hashes are keyed by a key derived from secret, bounded to
// max learned webhooks (0: DefaultMaxSecrets). With c, learned hashes are kept in Redis, shared;
// pass c only with a secret every replica shares. configured are the secrets known from the
// start, by webhook id.
func NewRegistry(secret []byte, maxSecrets int, c redis.UniversalClient, configured map[string]string) *Registry {
	// A key of its own, so that the webhook hashes and the cache's keys, both derived from
	// CACHE_KEY_SECRET, never share one.
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("livechat-gateway webhook secrets v1"))
	if maxSecrets <= 0 {
		maxSecrets = DefaultMaxSecrets
	}
	r := &Registry{key: m.Sum(nil), max: maxSecrets, redis: c, configured: map[string][]byte{}, learned: map[string][]byte{}, pinned: map[string]string{}}
	for id, s := range configured {
		r.configured[id] = r.hash(id, s)
	}
	return r
}

// hash is the keyed hash of a webhook's secret, bound to its id: a secret learned for one webhook
// does not verify another's deliveries.
func (r *Registry) hash(webhookID, secret string) []byte {
	m := hmac.New(sha256.New, r.key)
	fmt.Fprintf(m, "%d:%s", len(webhookID), webhookID)
	m.Write([]byte(secret))
	return m.Sum(nil)
}

// learnScript sets field ARGV[1] of KEYS[1] to ARGV[2] when it is there already or the hash has
// fewer than ARGV[3] fields; 1 when set. One key, so one Cluster node.
var learnScript = redis.NewScript(`
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 or redis.call('HLEN', KEYS[1]) < tonumber(ARGV[3]) then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  return 1
end
return 0`)

// Learn records secret as webhookID's, replacing what was known. An empty id or secret is
// ignored: nothing can be delivered with it.
func (r *Registry) Learn(ctx context.Context, webhookID, secret string) error {
	if webhookID == "" || secret == "" {
		return nil
	}
	h := r.hash(webhookID, secret)
	if r.redis != nil {
		n, err := learnScript.Run(ctx, r.redis, []string{registryKey}, webhookID, h, r.max).Int()
		if err != nil {
			return fmt.Errorf("webhooks: learning a secret: %w", err)
		}
		if n == 0 {
			return ErrRegistryFull
		}
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, known := r.learned[webhookID]; !known && len(r.learned) >= r.max {
		return ErrRegistryFull
	}
	r.learned[webhookID] = h
	return nil
}

// Verify reports whether secret is webhookID's, as configured or learned. An error means the
// learned secrets could not be read (Redis failed): the delivery can be neither accepted nor
// refused, and should be retried.
func (r *Registry) Verify(ctx context.Context, webhookID, secret string) (bool, error) {
	h := r.hash(webhookID, secret)
	if c, ok := r.configured[webhookID]; ok && hmac.Equal(c, h) {
		return true, nil
	}
	var known []byte
	if r.redis != nil {
		v, err := r.redis.HGet(ctx, registryKey, webhookID).Bytes()
		if errors.Is(err, redis.Nil) {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("webhooks: reading a secret's hash: %w", err)
		}
		known = v
	} else {
		r.mu.Lock()
		known = r.learned[webhookID]
		r.mu.Unlock()
	}
	return known != nil && hmac.Equal(known, h), nil
}

// licensesKey is the Redis hash of the license each webhook's deliveries carry (Pin).
const licensesKey = "lcgw:webhooks:licenses"

// pinScript returns the license pinned for webhook ARGV[1] in KEYS[1], pinning ARGV[2] first when
// there is none and the hash has fewer than ARGV[3] fields. One key, so one Cluster node.
var pinScript = redis.NewScript(`
local v = redis.call('HGET', KEYS[1], ARGV[1])
if v then return v end
if redis.call('HLEN', KEYS[1]) < tonumber(ARGV[3]) then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
return ARGV[2]`)

// Pin reports whether license is the license of webhookID's deliveries: the one its first
// verified delivery carried, which Pin records (a webhook belongs to one license). Without it,
// whoever holds one webhook's secret could append deliveries to any license's stream, and push
// that license's events out of it. Past max webhooks, a new one is not pinned, and passes.
func (r *Registry) Pin(ctx context.Context, webhookID, license string) (bool, error) {
	if r.redis != nil {
		v, err := pinScript.Run(ctx, r.redis, []string{licensesKey}, webhookID, license, r.max).Text()
		if err != nil {
			return false, fmt.Errorf("webhooks: pinning a webhook's license: %w", err)
		}
		return v == license, nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if v, ok := r.pinned[webhookID]; ok {
		return v == license, nil
	}
	if len(r.pinned) < r.max {
		r.pinned[webhookID] = license
	}
	return true, nil
}

// ParseSecrets reads WEBHOOK_SECRETS: "webhook_id=secret,webhook_id2=secret2", or "@<path>" for
// a file of one "webhook_id=secret" per line (blank lines and lines starting with # skipped), for
// secrets that hold commas, or that are mounted as a file. A secret is what follows the first
// '='; the ids and secrets are trimmed of spaces. Errors name the entry by its place, never its
// text, which holds a secret.
func ParseSecrets(v string) (map[string]string, error) {
	out := map[string]string{}
	if v == "" {
		return out, nil
	}
	var entries []string
	where := "entry"
	if path, ok := strings.CutPrefix(v, "@"); ok {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("reading the file: %w", err)
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			entries = append(entries, sc.Text())
		}
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("reading the file: %w", err)
		}
		where = "line"
	} else {
		entries = strings.Split(v, ",")
	}
	for i, e := range entries {
		e = strings.TrimSpace(e)
		if where == "line" && (e == "" || strings.HasPrefix(e, "#")) {
			continue
		}
		id, secret, ok := strings.Cut(e, "=")
		id, secret = strings.TrimSpace(id), strings.TrimSpace(secret)
		if !ok || id == "" || secret == "" {
			return nil, fmt.Errorf("%s %d: want webhook_id=secret", where, i+1)
		}
		if !webhookIDPattern.MatchString(id) {
			return nil, fmt.Errorf("%s %d: the webhook id is not one (letters, digits and _.:@+-, at most 128)", where, i+1)
		}
		out[id] = secret
	}
	return out, nil
}
