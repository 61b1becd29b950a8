package accounts

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/crypto/argon2"
)

// Argon2Params are the costs of one argon2id password hash. The stored
// hash names its own, so raising them later still verifies older hashes,
// and Login stores a new hash at the current costs once it has the
// password in hand.
type Argon2Params struct {
	MemoryKiB uint32 // m
	Time      uint32 // t, passes over the memory
	Threads   uint8  // p
}

// PasswordParams are the costs of new hashes: OWASP's first argon2id
// choice (19 MiB, 2 passes, 1 lane), which takes about 23 ms on one core
// of a small 2-core server, 45 ms when the other core is busy
// (BenchmarkHashPassword). A
// console signs in rarely, and the memory is what makes a stolen table
// expensive to guess through on GPUs.
var PasswordParams = Argon2Params{MemoryKiB: 19 * 1024, Time: 2, Threads: 1}

const (
	saltLen = 16
	hashLen = 32

	// Bounds a stored hash must keep to be verified at all: a row edited
	// by hand (or by an attacker with write access) must not make a login
	// allocate gigabytes or spin for minutes.
	maxMemoryKiB = 256 * 1024
	maxTime      = 16
	maxThreads   = 16
)

// hashSlots lets as many hashes run at once as there are processors:
// each holds PasswordParams.MemoryKiB, so a burst of logins queues here
// instead of taking the gateway's memory.
var hashSlots = make(chan struct{}, max(1, runtime.GOMAXPROCS(0)))

func withHashSlot(ctx context.Context, fn func()) error {
	select {
	case hashSlots <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("accounts: waiting to hash a password: %w", ctx.Err())
	}
	defer func() { <-hashSlots }()
	fn()
	return nil
}

// hashPassword hashes a password with a new random salt at PasswordParams,
// as a PHC string: $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>, both in
// unpadded standard base64.
func hashPassword(ctx context.Context, password string) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("accounts: salt: %w", err)
	}
	p := PasswordParams
	var key []byte
	if err := withHashSlot(ctx, func() { key = argon2.IDKey([]byte(password), salt, p.Time, p.MemoryKiB, p.Threads, hashLen) }); err != nil {
		return "", err
	}
	return phc{Argon2Params: p, Salt: salt, Hash: key}.String(), nil
}

// verifyPassword reports whether password hashes to the stored PHC string,
// comparing in constant time; a stored string that does not parse is an
// error, never a match.
func verifyPassword(ctx context.Context, stored, password string) (bool, error) {
	h, err := parsePHC(stored)
	if err != nil {
		return false, err
	}
	var key []byte
	if err := withHashSlot(ctx, func() {
		key = argon2.IDKey([]byte(password), h.Salt, h.Time, h.MemoryKiB, h.Threads, uint32(len(h.Hash)))
	}); err != nil {
		return false, err
	}
	return subtle.ConstantTimeCompare(key, h.Hash) == 1, nil
}

// phc is an argon2id hash as its PHC string holds it.
type phc struct {
	Argon2Params
	Salt []byte
	Hash []byte
}

func (h phc) String() string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, h.MemoryKiB, h.Time, h.Threads,
		base64.RawStdEncoding.EncodeToString(h.Salt), base64.RawStdEncoding.EncodeToString(h.Hash))
}

// errBadHash is a stored password hash hutong cannot verify against.
var errBadHash = errors.New("accounts: stored password hash is not an argon2id PHC string hutong accepts")

// parsePHC reads a stored argon2id PHC string, refusing any other
// algorithm or version, costs past hutong's bounds, and salts or hashes
// too short to be one hutong made.
func parsePHC(s string) (phc, error) {
	bad := func(why string) (phc, error) { return phc{}, fmt.Errorf("%w: %s", errBadHash, why) }
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" {
		return bad("want $argon2id$v=…$m=…,t=…,p=…$salt$hash")
	}
	if parts[1] != "argon2id" {
		return bad("algorithm is not argon2id")
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return bad("version is not 19")
	}
	var h phc
	params := strings.Split(parts[3], ",")
	if len(params) != 3 {
		return bad("want m=…,t=…,p=…")
	}
	for i, want := range []struct {
		key string
		max uint64
		set func(uint64)
	}{
		{"m", maxMemoryKiB, func(v uint64) { h.MemoryKiB = uint32(v) }},
		{"t", maxTime, func(v uint64) { h.Time = uint32(v) }},
		{"p", maxThreads, func(v uint64) { h.Threads = uint8(v) }},
	} {
		k, v, ok := strings.Cut(params[i], "=")
		if !ok || k != want.key {
			return bad("want m=…,t=…,p=… in that order")
		}
		// ParseUint allows no sign, so "+1" and "-1" are refused as well.
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil || n < 1 || n > want.max || v != strconv.FormatUint(n, 10) {
			return bad(fmt.Sprintf("%s must be a number from 1 to %d", k, want.max))
		}
		want.set(n)
	}
	if h.MemoryKiB < 8*uint32(h.Threads) {
		return bad("m must be at least 8 KiB per lane")
	}
	var ok bool
	if h.Salt, ok = decodeBase64(parts[4]); !ok || len(h.Salt) < 8 || len(h.Salt) > 64 {
		return bad("salt must be 8 to 64 bytes in unpadded base64")
	}
	if h.Hash, ok = decodeBase64(parts[5]); !ok || len(h.Hash) < 16 || len(h.Hash) > 64 {
		return bad("hash must be 16 to 64 bytes in unpadded base64")
	}
	return h, nil
}

// decodeBase64 reads unpadded standard base64 written the one way
// hutong writes it: the decoder alone skips line breaks.
func decodeBase64(s string) ([]byte, bool) {
	b, err := base64.RawStdEncoding.Strict().DecodeString(s)
	return b, err == nil && base64.RawStdEncoding.EncodeToString(b) == s
}

// dummyHash is what Login verifies a password against when the email has
// no user, so that an unknown email takes as long as a wrong password and
// the timing tells no one which emails exist.
var dummyHash = sync.OnceValues(func() (string, error) {
	return hashPassword(context.Background(), rand.Text())
})
