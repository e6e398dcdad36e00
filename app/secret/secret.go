// Package secret encrypts secrets at rest (Connect shared secrets, Forge
// system tokens, Admin API keys) with AES-256-GCM.
//
// The standard library's crypto/cipher is the well-kept library here; this
// package only adds a framed format so keys can rotate: every ciphertext names
// the key that sealed it, the first configured key seals, and any configured
// key opens. Each ciphertext is bound to where it is stored through GCM's
// additional data (for example "tenant:<id>:shared_secret"), so a row's secret
// copied into another row does not decrypt.
package secret

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// KeySize is the length of an AES-256 key in bytes.
const KeySize = 32

const (
	formatVersion = 1
	keyIDSize     = 4
	headerSize    = 1 + keyIDSize
)

// ErrDecrypt is returned when a ciphertext cannot be opened with any
// configured key, or was bound to other additional data.
var ErrDecrypt = errors.New("secret: cannot decrypt (wrong key, wrong binding or corrupted data)")

// Box seals and opens secrets.
type Box struct {
	primary *sealer
	byID    map[[keyIDSize]byte]*sealer
}

type sealer struct {
	id   [keyIDSize]byte
	aead cipher.AEAD
}

// NewBox builds a Box from one or more 32-byte keys. The first key seals new
// secrets; all keys open existing ones, which is how a key is rotated.
func NewBox(keys ...[]byte) (*Box, error) {
	if len(keys) == 0 {
		return nil, errors.New("secret: at least one key is required")
	}
	b := &Box{byID: make(map[[keyIDSize]byte]*sealer, len(keys))}
	for i, k := range keys {
		s, err := newSealer(k)
		if err != nil {
			return nil, fmt.Errorf("secret: key %d: %w", i+1, err)
		}
		if i == 0 {
			b.primary = s
		}
		b.byID[s.id] = s
	}
	return b, nil
}

func newSealer(key []byte) (*sealer, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("key must be %d bytes, got %d", KeySize, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	s := &sealer{aead: aead}
	// The key id is a hash prefix, not the key: it tells which key to try
	// without revealing anything useful about it.
	sum := sha256.Sum256(append([]byte("lapse-key-id:"), key...))
	copy(s.id[:], sum[:keyIDSize])
	return s, nil
}

// ParseKeys decodes a comma-separated list of base64 (standard or URL
// alphabet, padded or not) 32-byte keys, as LAPSE_ENCRYPTION_KEY holds them.
func ParseKeys(list string) ([][]byte, error) {
	var keys [][]byte
	for i, part := range strings.Split(list, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, err := decodeKey(part)
		if err != nil {
			return nil, fmt.Errorf("key %d: %w", i+1, err)
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, errors.New("no key given")
	}
	return keys, nil
}

func decodeKey(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(s); err == nil {
			if len(k) != KeySize {
				return nil, fmt.Errorf("decodes to %d bytes, want %d (generate one with: openssl rand -base64 32)", len(k), KeySize)
			}
			return k, nil
		}
	}
	return nil, errors.New("not valid base64 (generate one with: openssl rand -base64 32)")
}

// NewKey returns a fresh random key, base64-encoded.
func NewKey() (string, error) {
	k := make([]byte, KeySize)
	if _, err := rand.Read(k); err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(k), nil
}

// Seal encrypts plaintext bound to binding. An empty plaintext seals to nil,
// so "no secret" stays distinguishable from an encrypted empty string.
func (b *Box) Seal(plaintext []byte, binding string) ([]byte, error) {
	if len(plaintext) == 0 {
		return nil, nil
	}
	s := b.primary
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("secret: nonce: %w", err)
	}
	out := make([]byte, 0, headerSize+len(nonce)+len(plaintext)+s.aead.Overhead())
	out = append(out, formatVersion)
	out = append(out, s.id[:]...)
	out = append(out, nonce...)
	return s.aead.Seal(out, nonce, plaintext, []byte(binding)), nil
}

// Open decrypts a ciphertext produced by Seal with the same binding.
func (b *Box) Open(ciphertext []byte, binding string) ([]byte, error) {
	if len(ciphertext) == 0 {
		return nil, nil
	}
	if len(ciphertext) < headerSize || ciphertext[0] != formatVersion {
		return nil, ErrDecrypt
	}
	var id [keyIDSize]byte
	copy(id[:], ciphertext[1:headerSize])
	s, ok := b.byID[id]
	if !ok {
		return nil, ErrDecrypt
	}
	rest := ciphertext[headerSize:]
	n := s.aead.NonceSize()
	if len(rest) < n+s.aead.Overhead() {
		return nil, ErrDecrypt
	}
	pt, err := s.aead.Open(nil, rest[:n], rest[n:], []byte(binding))
	if err != nil {
		return nil, ErrDecrypt
	}
	return pt, nil
}
