package service

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"sync"
	"time"
)

// The cache derives two kinds of keys from CACHE_KEY_SECRET with HKDF-SHA256, each under a label
// of its own, so that neither can stand in for the other:
//
//   - one key that hashes a caller's credential (its Authorization value) into the cache keys, so
//     that no token, nor anything a token could be checked against without the secret, is stored;
//   - per credential, a key that seals that credential's entries with AES-GCM, so that a dump of
//     Redis shows no answer, and an entry moved under another credential's key fails to open.
const (
	labelID   = "livechat-gateway cache credential id v1"
	labelSeal = "livechat-gateway cache seal v1\x00" // followed by the credential
)

// keyring holds the secret, the key of credential ids, and the sealers of the credentials seen
// lately.
type keyring struct {
	secret []byte
	idKey  []byte

	mu      sync.RWMutex
	sealers map[string]cipher.AEAD // by credential id; at most maxSealers

	macs sync.Pool // of HMAC-SHA256 keyed with idKey, for id
}

// maxSealers bounds the sealers kept: deriving one (HKDF, then the AES key schedule) is most of
// what sealing adds to a small hit, and a replica serves far fewer busy credentials than this.
const maxSealers = 10_000

func newKeyring(secret []byte) (*keyring, error) {
	idKey, err := hkdf.Key(sha256.New, secret, nil, labelID, sha256.Size)
	if err != nil {
		return nil, fmt.Errorf("service: deriving the cache's id key: %w", err)
	}
	k := &keyring{secret: secret, idKey: idKey, sealers: map[string]cipher.AEAD{}}
	k.macs.New = func() any { return hmac.New(sha256.New, idKey) }
	return k, nil
}

// sealerOf returns the sealer of auth, whose id is id, derived once and kept while there is room.
// An AEAD of the standard library is safe for concurrent use.
func (k *keyring) sealerOf(id, auth string) (cipher.AEAD, error) {
	k.mu.RLock()
	aead, ok := k.sealers[id]
	k.mu.RUnlock()
	if ok {
		return aead, nil
	}
	aead, err := k.sealer(auth)
	if err != nil {
		return nil, err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(k.sealers) >= maxSealers {
		for old := range k.sealers { // an arbitrary one: any will be derived again if needed
			delete(k.sealers, old)
			break
		}
	}
	k.sealers[id] = aead
	return aead, nil
}

// id returns the keyed hash of a credential, the one identity of it that cache keys hold. Every
// call computes one; the HMACs are pooled, since setting one up hashes the key twice over and
// allocates more than the hashing of a token does.
func (k *keyring) id(auth string) string {
	m := k.macs.Get().(hash.Hash)
	defer k.macs.Put(m)
	m.Reset()
	m.Write([]byte(auth))
	var sum [sha256.Size]byte
	return hex.EncodeToString(m.Sum(sum[:0])[:16])
}

// sealer derives the AEAD that seals auth's entries. GCM with random 96-bit nonces: a credential
// fills far fewer than the 2^32 entries after which random nonces would risk repeating.
func (k *keyring) sealer(auth string) (cipher.AEAD, error) {
	key, err := hkdf.Key(sha256.New, k.secret, nil, labelSeal+auth, 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCMWithRandomNonce(block)
}

// An entry is a header in the clear, then the sealed answer:
//
//	version (1 byte) | generation (8 bytes) | filled, Unix nanoseconds (8 bytes) | nonce | ciphertext and tag
//
// The header says, without opening the entry, whether it can be served: of the credential's
// current generation, and how old. GCM authenticates it together with the entry's cache key, so
// neither the header nor the key can be changed, nor the entry moved to another key, without the
// entry failing to open.
const (
	// entryVersion 2 added the answer's empties: version 1 entries are misses.
	entryVersion   = 2
	entryHeaderLen = 1 + 8 + 8
)

var errUnsealed = errors.New("cache entry does not open")

// seal returns the entry of plain, filled at filled under generation gen, for the cache key key.
func seal(aead cipher.AEAD, key string, gen int64, filled time.Time, plain []byte) []byte {
	b := make([]byte, entryHeaderLen, entryHeaderLen+aead.NonceSize()+len(plain)+aead.Overhead())
	b[0] = entryVersion
	binary.BigEndian.PutUint64(b[1:9], uint64(gen))
	binary.BigEndian.PutUint64(b[9:17], uint64(filled.UnixNano()))
	return aead.Seal(b, nil, plain, additionalData(key, b[:entryHeaderLen]))
}

// entryHeader returns the generation and fill time of an entry, or ok=false if it is not one.
func entryHeader(b []byte) (gen int64, filled time.Time, ok bool) {
	if len(b) < entryHeaderLen || b[0] != entryVersion {
		return 0, time.Time{}, false
	}
	return int64(binary.BigEndian.Uint64(b[1:9])), time.Unix(0, int64(binary.BigEndian.Uint64(b[9:17]))), true
}

// open returns the answer sealed in the entry b at key, or errUnsealed.
func open(aead cipher.AEAD, key string, b []byte) ([]byte, error) {
	if len(b) < entryHeaderLen {
		return nil, errUnsealed
	}
	plain, err := aead.Open(nil, nil, b[entryHeaderLen:], additionalData(key, b[:entryHeaderLen]))
	if err != nil {
		return nil, errUnsealed
	}
	return plain, nil
}

// additionalData is what GCM authenticates besides the sealed answer: the header and the key.
func additionalData(key string, header []byte) []byte {
	return append(append(make([]byte, 0, len(header)+len(key)), header...), key...)
}
