package service

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/livechat-gateway/gateway/internal/action"
	"github.com/livechat-gateway/gateway/internal/emulator"
	"github.com/livechat-gateway/gateway/internal/testutil"
	"github.com/livechat-gateway/gateway/internal/testutil/redistest"
	"github.com/livechat-gateway/gateway/internal/wire"
)

// What TestSealedEntries puts in a bot, to look for in Redis afterwards.
const (
	stBotName    = "Zephyrine Quokka Bot"
	stBotJob     = "Chief Quokka Officer"
	stHookSecret = "Sup3rS3cretWebhookKey"
	stHookURL    = "https://hooks.quokka-example.com/zephyr-7731"
	// stGroupsOnly is a token of license A without the bot scopes: the bot is not its to read.
	stGroupsOnly = "dal:groups-only-a"
)

// stEntryKey returns the cache key that a read of action name with the JSON body by token (no
// x-region) is stored under, computed with the service's own functions, and the key of the
// credential's generation counter.
func stEntryKey(t *testing.T, r *rig, token, name, body string) (key, gen string) {
	t.Helper()
	a := testutil.Action(t, name)
	b, err := wire.EncodeRequest(a, mustRequest(t, a, body))
	if err != nil {
		t.Fatal(err)
	}
	id := r.svc.reads.keys.id("Bearer " + token)
	return entryKey(id, "", a, b), genKey(id)
}

// stField returns the string field name of m's message.
func stField(m proto.Message, name string) string {
	fd := m.ProtoReflect().Descriptor().Fields().ByName(protoreflect.Name(name))
	if fd == nil {
		return ""
	}
	return m.ProtoReflect().Get(fd).String()
}

// TestSealedEntries: after a create_bot with a secret_key and a get_bot, no Redis key or value
// contains the secret or any answer text; an entry copied under another credential's key is a
// miss, even with that credential's counter set to the entry's generation, so that nothing but
// the sealing can refuse it.
func TestSealedEntries(t *testing.T) {
	limited, err := emulator.ParseConfig([]byte(`{"tokens": [{"token": "` + stGroupsOnly + `", "license": "A",
		"agent": "agent-a@example.com", "client_id": "c-limited", "scopes": ["groups--all:ro"]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	srv := redistest.Server(t)
	rc := redisClient(t, srv)
	ctx := context.Background()
	r := newRig(t, rigOptions{store: newTestRedis(t, srv.URL()), emuOpts: []emulator.Option{emulator.WithConfig(limited)}})

	created := r.must(ownerA, "create_bot", fmt.Sprintf(`{"name":%q,"job_title":%q,"webhooks":{"url":%q,"secret_key":%q,
		"actions":[{"name":"incoming_chat"},{"name":"incoming_event"}]}}`, stBotName, stBotJob, stHookURL, stHookSecret))
	botID := stField(created.resp, "bot_agent_id")
	if len(botID) != 32 {
		t.Fatalf("create_bot answered %v: no bot id", created.resp)
	}
	getBody := fmt.Sprintf(`{"bot_agent_id":%q}`, botID)
	got := r.must(ownerA, "get_bot", getBody)
	for _, s := range []string{stBotName, stBotJob, stHookSecret, stHookURL} {
		if !strings.Contains(fmt.Sprint(got.resp), s) {
			t.Fatalf("get_bot answered %v, without %q", got.resp, s)
		}
	}
	warmed := got.resp
	r.settle()
	if hit := r.must(ownerA, "get_bot", getBody); hit.cache() != cacheHit {
		t.Fatalf("the second get_bot: x-cache %q, want hit: the answer is not cached, so there is nothing to look for", hit.cache())
	}

	t.Run("nothing in the clear", func(t *testing.T) {
		keys, err := rc.Keys(ctx, "*").Result()
		if err != nil {
			t.Fatal(err)
		}
		entries := 0
		for _, k := range keys {
			var val []byte
			typ, err := rc.Type(ctx, k).Result()
			if err != nil {
				t.Fatal(err)
			}
			if typ == "string" {
				val, err = rc.Get(ctx, k).Bytes()
			} else {
				var s string
				s, err = rc.Dump(ctx, k).Result()
				val = []byte(s)
			}
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(k, ":e:") {
				entries++
			}
			for _, s := range []string{
				stHookSecret, stBotName, stBotJob, stHookURL, "quokka", "Quokka", botID,
				"0805e283233042b37f460ed8fbf22160", // owner-a's application, in the answer
				"incoming_chat", "incoming_event", "not accepting chats",
				ownerA, ownerB, readonlyA, "owner-a", "Bearer",
			} {
				if strings.Contains(k, s) || bytes.Contains(val, []byte(s)) {
					t.Errorf("Redis key %q (%s, %d bytes) holds %q", k, typ, len(val), s)
				}
			}
			// The secret, as the text a JSON or protobuf encoding would hold, in any case.
			if bytes.Contains(bytes.ToLower(val), bytes.ToLower([]byte(stHookSecret))) {
				t.Errorf("Redis value of %q holds the webhook secret", k)
			}
		}
		if entries == 0 {
			t.Fatalf("no entry among the %d keys %q: the test looked at nothing", len(keys), keys)
		}
	})

	keyA, genA := stEntryKey(t, r, ownerA, "get_bot", getBody)
	val, err := rc.Get(ctx, keyA).Bytes()
	if err != nil {
		t.Fatalf("GET of the computed key of owner-a's get_bot %q: %v", keyA, err)
	}
	gen, _, ok := entryHeader(val)
	if !ok {
		t.Fatalf("owner-a's entry has no header: %x", val)
	}
	if n, err := rc.Get(ctx, genA).Int64(); err != nil || n != gen {
		t.Fatalf("owner-a's counter = %d, %v; its entry's generation is %d", n, err, gen)
	}

	// moveTo copies owner-a's entry under token's key for the read of body, and sets token's
	// counter to the entry's generation: fresh, of the current generation, at the right key.
	moveTo := func(t *testing.T, token, body string) {
		t.Helper()
		key, genKey := stEntryKey(t, r, token, "get_bot", body)
		if err := rc.Set(ctx, key, val, time.Hour).Err(); err != nil {
			t.Fatal(err)
		}
		if err := rc.Set(ctx, genKey, strconv.FormatInt(gen, 10), time.Hour).Err(); err != nil {
			t.Fatal(err)
		}
	}

	for _, tc := range []struct {
		token string
		code  codes.Code
	}{
		{ownerB, codes.NotFound},               // another license
		{stGroupsOnly, codes.PermissionDenied}, // owner-a's license, without the bot scopes
	} {
		t.Run("copied under "+tc.token, func(t *testing.T) {
			// The same read by the other credential first: its counter now exists, under the
			// key computed below.
			first := r.call(ctx, tc.token, "get_bot", getBody)
			if status.Code(first.err) != tc.code {
				t.Fatalf("%s's own get_bot: %v, want %v", tc.token, first.err, tc.code)
			}
			if _, genKey := stEntryKey(t, r, tc.token, "get_bot", getBody); rc.Exists(ctx, genKey).Val() != 1 {
				t.Fatalf("%s's counter is not at the computed key %q", tc.token, genKey)
			}
			moveTo(t, tc.token, getBody)
			calls := r.calls("get_bot")
			res := r.call(ctx, tc.token, "get_bot", getBody)
			if res.err == nil || strings.Contains(fmt.Sprint(res.resp), stBotName) {
				t.Fatalf("%s was answered (x-cache %q) with owner-a's bot: %v", tc.token, res.cache(), res.resp)
			}
			if status.Code(res.err) != tc.code || r.calls("get_bot") != calls+1 {
				t.Errorf("%s with owner-a's entry under its key: %v after %d upstream calls; want the upstream's %v",
					tc.token, res.err, r.calls("get_bot")-calls, tc.code)
			}
		})
	}

	t.Run("copied under another key of owner-a", func(t *testing.T) {
		other := `{"bot_agent_id":"00000000000000000000000000000000"}`
		moveTo(t, ownerA, other)
		calls := r.calls("get_bot")
		res := r.call(ctx, ownerA, "get_bot", other)
		if status.Code(res.err) != codes.NotFound || r.calls("get_bot") != calls+1 {
			t.Errorf("owner-a's entry under the key of another bot: (x-cache %q) %v, %v after %d upstream calls; want the upstream's not_found",
				res.cache(), res.resp, res.err, r.calls("get_bot")-calls)
		}
	})

	// The entry itself is intact and of owner-a's current generation: only the move failed.
	if got := r.must(ownerA, "get_bot", getBody); got.cache() != cacheHit || !proto.Equal(got.resp, warmed) {
		t.Errorf("owner-a's own read at the end: x-cache %q, %v; want a hit of %v", got.cache(), got.resp, warmed)
	}
}

// stSecret is the secret of the unit tests below.
var stSecret = []byte("0123456789abcdef0123456789abcdef")

// stSealer returns the AEAD of auth under secret.
func stSealer(t testing.TB, secret []byte, auth string) (*keyring, cipher.AEAD) {
	t.Helper()
	k, err := newKeyring(secret)
	if err != nil {
		t.Fatal(err)
	}
	aead, err := k.sealer(auth)
	if err != nil {
		t.Fatal(err)
	}
	return k, aead
}

// TestSealOpen round-trips an entry and refuses every change of it: each bit of the header, the
// nonce and the ciphertext, a truncation, an extension; the right entry under another key; and
// another credential's or another secret's key.
func TestSealOpen(t *testing.T) {
	const auth = "Bearer dal:owner-a"
	k, aead := stSealer(t, stSecret, auth)
	a := testutil.Action(t, "get_bot")
	key := entryKey(k.id(auth), "", a, []byte(`{"bot_agent_id":"b1"}`))
	plain := []byte("\x00\x0a2027-06-30 the sealed answer: " + stHookSecret)
	filled := time.Unix(1_900_000_000, 123_456_789)
	b := seal(aead, key, 42, filled, plain)

	if gen, at, ok := entryHeader(b); !ok || gen != 42 || !at.Equal(filled) {
		t.Errorf("entryHeader = %d, %v, %v; want 42, %v", gen, at, ok, filled)
	}
	if got, err := open(aead, key, b); err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("open(seal(x)) = %q, %v; want %q", got, err, plain)
	}
	if bytes.Contains(b, []byte(stHookSecret)) || bytes.Contains(b, []byte("sealed answer")) {
		t.Errorf("the entry holds its answer in the clear: %q", b)
	}
	if _, again := stSealer(t, stSecret, auth); !bytes.Equal(mustOpen(t, again, key, b), plain) {
		t.Error("another replica's keyring of the same secret does not open the entry")
	}
	if b2 := seal(aead, key, 42, filled, plain); bytes.Equal(b2[entryHeaderLen:], b[entryHeaderLen:]) {
		t.Error("two seals of the same answer are equal: the nonce repeats")
	}
	empty := seal(aead, key, 1, filled, nil)
	if got, err := open(aead, key, empty); err != nil || len(got) != 0 {
		t.Errorf("open of an empty answer = %q, %v", got, err)
	}

	part := func(i int) string {
		switch {
		case i < entryHeaderLen:
			return "header"
		case i < entryHeaderLen+12:
			return "nonce"
		case i >= len(b)-aead.Overhead()+12:
			return "tag"
		}
		return "ciphertext"
	}
	if n := len(b) - entryHeaderLen - len(plain); n != aead.Overhead() || n != 12+16 {
		t.Fatalf("an entry is header + %d bytes + the answer; want a 12-byte nonce and a 16-byte tag", n)
	}
	for i := range b {
		for bit := range 8 {
			c := bytes.Clone(b)
			c[i] ^= 1 << bit
			if got, err := open(aead, key, c); err == nil {
				t.Errorf("bit %d of byte %d (%s) flipped: opened as %q", bit, i, part(i), got)
			}
		}
	}
	for n := range len(b) {
		if _, err := open(aead, key, b[:n]); err == nil {
			t.Errorf("the entry cut to %d bytes opened", n)
		}
	}
	if _, err := open(aead, key, append(bytes.Clone(b), 0)); err == nil {
		t.Error("the entry with a byte appended opened")
	}

	for _, other := range []string{
		entryKey(k.id(auth), "", a, []byte(`{"bot_agent_id":"b2"}`)),    // another request
		entryKey(k.id(auth), "fra", a, []byte(`{"bot_agent_id":"b1"}`)), // another region
		entryKey(k.id(auth), "", testutil.Action(t, "get_agent"), []byte(`{"bot_agent_id":"b1"}`)),
		entryKey(k.id("Bearer dal:owner-b"), "", a, []byte(`{"bot_agent_id":"b1"}`)), // another credential's key
		key + "x", key[:len(key)-1], "",
	} {
		if _, err := open(aead, other, b); err == nil {
			t.Errorf("the entry of %q opened at %q", key, other)
		}
	}
	for _, other := range []struct {
		what   string
		secret []byte
		auth   string
	}{
		{"another credential", stSecret, "Bearer dal:owner-b"},
		{"the same token under another scheme", stSecret, "bearer dal:owner-a"},
		{"the token with a byte more", stSecret, auth + " "},
		{"another secret", []byte("fedcba9876543210fedcba9876543210"), auth},
	} {
		_, aead2 := stSealer(t, other.secret, other.auth)
		if _, err := open(aead2, key, b); err == nil {
			t.Errorf("%s's key opened the entry", other.what)
		}
	}
}

func mustOpen(t *testing.T, aead cipher.AEAD, key string, b []byte) []byte {
	t.Helper()
	plain, err := open(aead, key, b)
	if err != nil {
		t.Fatal(err)
	}
	return plain
}

// stGCM returns an AEAD of the entry format whose key is key.
func stGCM(t *testing.T, key []byte) cipher.AEAD {
	t.Helper()
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		t.Fatal(err)
	}
	return aead
}

// TestKeyringLabels checks the two HKDF derivations: the key of credential ids and the key that
// seals a credential's entries come from different labels, so that neither is the other, nor the
// secret; an id key is no seal key; and ids are keyed, stable, and hold nothing of the token.
func TestKeyringLabels(t *testing.T) {
	if labelID == labelSeal || strings.HasPrefix(labelSeal, labelID) || strings.HasPrefix(labelID, labelSeal) {
		t.Fatalf("labels %q and %q: one is a prefix of the other", labelID, labelSeal)
	}
	const auth = "Bearer dal:owner-a"
	k, aead := stSealer(t, stSecret, auth)
	key := entryKey(k.id(auth), "", testutil.Action(t, "get_bot"), []byte(`{}`))
	b := seal(aead, key, 1, time.Now(), []byte("answer"))

	// The seal key, derived here as seal.go documents: it opens the entry, so it is the key
	// sealer uses, and the comparisons below are of the real keys.
	sealKey, err := hkdf.Key(sha256.New, stSecret, nil, labelSeal+auth, 32)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(mustOpen(t, stGCM(t, sealKey), key, b), []byte("answer")) {
		t.Fatal("the documented derivation of the seal key does not open the entry")
	}
	idKey, err := hkdf.Key(sha256.New, stSecret, nil, labelID, sha256.Size)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(idKey, k.idKey) {
		t.Fatal("the id key is not the documented derivation")
	}
	for _, c := range []struct {
		what string
		a, b []byte
	}{
		{"id key and seal key", k.idKey, sealKey},
		{"id key and secret", k.idKey, stSecret},
		{"seal key and secret", sealKey, stSecret},
	} {
		if bytes.Equal(c.a, c.b) {
			t.Errorf("%s are equal", c.what)
		}
	}
	// An id key is not usable as a seal key, whatever the credential: not for the one sealed,
	// nor for the empty one, whose seal key's label is labelSeal alone.
	if _, err := open(stGCM(t, k.idKey), key, b); err == nil {
		t.Error("the id key opened an entry")
	}
	_, empty := stSealer(t, stSecret, "")
	if _, err := open(stGCM(t, k.idKey), key, seal(empty, key, 1, time.Now(), []byte("answer"))); err == nil {
		t.Error("the id key opened an entry of the empty credential")
	}
	// Nor is the secret itself, cut to an AES key.
	if _, err := open(stGCM(t, stSecret[:32]), key, b); err == nil {
		t.Error("the secret opened an entry")
	}

	// Ids: 128 bits of HMAC under the id key, not under the secret nor the seal key.
	id := k.id(auth)
	mac := func(key []byte) string {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(auth))
		return hex.EncodeToString(m.Sum(nil)[:16])
	}
	if id != mac(k.idKey) || id == mac(stSecret) || id == mac(sealKey) {
		t.Errorf("id(%q) = %s: not the HMAC under the id key alone", auth, id)
	}
	if len(id) != 32 || strings.Contains(id, "owner") {
		t.Errorf("id(%q) = %q", auth, id)
	}
	other, _ := stSealer(t, []byte("fedcba9876543210fedcba9876543210"), auth)
	if id != k.id(auth) || id == k.id("Bearer dal:owner-b") || id == other.id(auth) {
		t.Error("ids are not stable per secret and credential, or do not differ across them")
	}
}

// TestSealersKept checks that a credential's sealer is derived once and kept, within the bound,
// and that a kept sealer opens what a freshly derived one sealed.
func TestSealersKept(t *testing.T) {
	k, err := newKeyring([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	const auth = "Bearer dal:owner-a"
	first, err := k.sealerOf(k.id(auth), auth)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := k.sealerOf(k.id(auth), auth); again != first {
		t.Error("sealerOf derived the same credential's sealer twice")
	}
	derived, err := k.sealer(auth)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := open(first, "k", seal(derived, "k", 1, time.Now(), []byte("answer"))); err != nil {
		t.Errorf("the kept sealer does not open what the derived one sealed: %v", err)
	}
	for i := range maxSealers + 10 {
		auth := fmt.Sprintf("Bearer dal:t%d", i)
		if _, err := k.sealerOf(k.id(auth), auth); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(k.sealers); n > maxSealers {
		t.Errorf("%d sealers kept, want at most %d", n, maxSealers)
	}
}

// FuzzEntry feeds arbitrary bytes, as a damaged or hostile store could hold them, to what a
// lookup does with an entry: read its header, open it, decode it. None may panic, and nothing
// but a sealed entry opens. Since no fuzzed entry opens, the bytes are also sealed as an answer
// (as a store written with the secret could hold them) to check what follows the opening: they
// open as they were sealed, at their key and header only, and decode as any cached read's answer
// either not at all or to an answer that encodes and decodes to itself.
func FuzzEntry(f *testing.F) {
	k, err := newKeyring([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		f.Fatal(err)
	}
	const auth, key = "Bearer dal:owner-a", "lcgw:{x}:e:dal:get_agent:00"
	aead, err := k.sealer(auth)
	if err != nil {
		f.Fatal(err)
	}
	a := testutil.Action(f, "get_agent")
	resp := a.NewResponse()
	if err := jsonUnmarshal(`{"agent":{"id":"x","name":"X"}}`, resp); err != nil {
		f.Fatal(err)
	}
	plain, err := encodeAnswer(&answer{resp: resp, deprecation: "2027-06-30"})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seal(aead, key, 7, time.Unix(1, 0), plain))
	f.Add([]byte{entryVersion})
	f.Add([]byte{})
	f.Add(plain)
	f.Add(append([]byte{0, 0}, []byte("\x0a\x03\x0a\x01x")...)) // no headers, a get_agent answer
	f.Add([]byte{0x80})                                         // a length that does not end
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	var readActions []*action.Action
	for _, ra := range action.All() {
		if ra.Read {
			readActions = append(readActions, ra)
		}
	}
	other, err := k.sealer("Bearer dal:owner-b")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		entryHeader(b)
		decodeAnswer(a, b)
		if p, err := open(aead, key, b); err == nil {
			if _, err := decodeAnswer(a, p); err != nil {
				t.Errorf("an entry that opens does not decode: %v", err)
			}
		}

		// b as the answer of an entry sealed with the secret.
		e := seal(aead, key, 7, time.Unix(1, 0), b)
		if gen, filled, ok := entryHeader(e); !ok || gen != 7 || !filled.Equal(time.Unix(1, 0)) {
			t.Fatalf("entryHeader of a sealed entry = %d, %v, %v", gen, filled, ok)
		}
		p, err := open(aead, key, e)
		if err != nil || !bytes.Equal(p, b) {
			t.Fatalf("open(seal(%q)) = %q, %v", b, p, err)
		}
		if _, err := open(aead, key+"x", e); err == nil {
			t.Fatal("an entry opens at another key")
		}
		if _, err := open(other, key, e); err == nil {
			t.Fatal("an entry opens under another credential")
		}
		moved := bytes.Clone(e)
		moved[len(b)%entryHeaderLen] ^= 1
		if _, err := open(aead, key, moved); err == nil {
			t.Fatal("an entry opens with a changed header")
		}
		for _, ra := range readActions {
			ans, err := decodeAnswer(ra, p)
			if err != nil {
				continue
			}
			again, err := encodeAnswer(ans)
			if err != nil {
				t.Fatalf("%s: %q decodes, but does not encode again: %v", ra.Name, b, err)
			}
			back, err := decodeAnswer(ra, again)
			if err != nil || back.legacy != ans.legacy || back.deprecation != ans.deprecation || !proto.Equal(back.resp, ans.resp) {
				t.Fatalf("%s: %q decodes to %v, which encodes to %q, which decodes to %v (%v)", ra.Name, b, ans.resp, again, back, err)
			}
		}
	})
}
