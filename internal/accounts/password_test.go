package accounts

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestPHCPasswordRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	stored, err := hashPassword(ctx, "correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(stored, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("stored hash %q is not the PHC string of PasswordParams", stored)
	}
	if again, err := hashPassword(ctx, "correct horse battery"); err != nil || again == stored {
		t.Fatalf("two hashes of one password are equal (%v): the salt is not random", err)
	}
	for pw, want := range map[string]bool{"correct horse battery": true, "correct horse batterY": false, "": false} {
		if ok, err := verifyPassword(ctx, stored, pw); err != nil || ok != want {
			t.Errorf("verify %q = %v, %v; want %v", pw, ok, err, want)
		}
	}
	h, err := parsePHC(stored)
	if err != nil || h.String() != stored {
		t.Fatalf("parse and print: %q, %v; want %q", h.String(), err, stored)
	}
}

func TestParsePHCRefuses(t *testing.T) {
	t.Parallel()
	const salt, hash = "c2FsdHNhbHRzYWx0c2FsdA", "aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g"
	for _, s := range []string{
		"",
		"plain",
		"$argon2i$v=19$m=19456,t=2,p=1$" + salt + "$" + hash,
		"$argon2id$v=16$m=19456,t=2,p=1$" + salt + "$" + hash,
		"$argon2id$v=19$m=4194304,t=2,p=1$" + salt + "$" + hash, // 4 GiB
		"$argon2id$v=19$m=19456,t=1000,p=1$" + salt + "$" + hash,
		"$argon2id$v=19$m=19456,t=2,p=0$" + salt + "$" + hash,
		"$argon2id$v=19$m=19456,t=+2,p=1$" + salt + "$" + hash,
		"$argon2id$v=19$m=019456,t=2,p=1$" + salt + "$" + hash,
		"$argon2id$v=19$t=2,m=19456,p=1$" + salt + "$" + hash,
		"$argon2id$v=19$m=8,t=2,p=2$" + salt + "$" + hash,
		"$argon2id$v=19$m=19456,t=2,p=1$" + salt + "=$" + hash,
		"$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$" + hash,      // 4-byte salt
		"$argon2id$v=19$m=19456,t=2,p=1$" + salt + "$aGFzaA", // 4-byte hash
		"$argon2id$v=19$m=19456,t=2,p=1$" + salt + "$" + hash + "$",
	} {
		if _, err := parsePHC(s); !errors.Is(err, errBadHash) {
			t.Errorf("parsePHC(%q) = %v, want errBadHash", s, err)
		}
	}
	if _, err := verifyPassword(context.Background(), "$argon2i$v=19$m=1,t=1,p=1$x$y", "pw"); !errors.Is(err, errBadHash) {
		t.Errorf("verifying against a foreign hash: %v, want errBadHash", err)
	}
}

// FuzzParsePHC: a stored hash is outside input (a database row anyone
// with write access may edit). Whatever it holds, parsing neither panics
// nor accepts costs past the bounds, and what parses prints back the same.
func FuzzParsePHC(f *testing.F) {
	f.Add("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g")
	f.Add("$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA")
	f.Add("$argon2id$v=19$m=,t=,p=$$")
	f.Add("$$$$$")
	f.Fuzz(func(t *testing.T, s string) {
		h, err := parsePHC(s)
		if err != nil {
			if !errors.Is(err, errBadHash) {
				t.Fatalf("parsePHC(%q) = %v, not errBadHash", s, err)
			}
			return
		}
		if h.MemoryKiB > maxMemoryKiB || h.Time < 1 || h.Time > maxTime || h.Threads < 1 || h.Threads > maxThreads || len(h.Salt) < 8 || len(h.Hash) < 16 {
			t.Fatalf("parsePHC(%q) accepted %+v", s, h.Argon2Params)
		}
		if h.String() != s {
			t.Fatalf("parsePHC(%q) prints back as %q", s, h.String())
		}
	})
}

// BenchmarkHashPassword is the time one sign-in spends hashing, at
// PasswordParams.
func BenchmarkHashPassword(b *testing.B) {
	ctx := context.Background()
	for b.Loop() {
		if _, err := hashPassword(ctx, "correct horse battery"); err != nil {
			b.Fatal(err)
		}
	}
}
