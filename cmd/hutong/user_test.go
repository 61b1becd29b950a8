package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hutong-pay/hutong/internal/accounts"
	"github.com/hutong-pay/hutong/internal/merchant"
	"github.com/hutong-pay/hutong/internal/store"
)

// TestUserCommands adds, lists, disables, enables, re-passwords and logs
// out console users on a SQLite database, as an operator would, with the
// password from the environment and from a pipe.
func TestUserCommands(t *testing.T) {
	path := filepath.Join(t.TempDir(), "h.db")
	dsn := "sqlite:" + path
	ctx := context.Background()
	db, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Pool().MerchantInsert(ctx, store.MerchantInsertParams{Merchant: merchant.Merchant{ID: "m_county", Name: "县城超市"}}); err != nil {
		t.Fatal(err)
	}
	svc := &accounts.Service{DB: db}
	user := func(args ...string) (string, error) {
		t.Helper()
		var out bytes.Buffer
		err := run(append(append([]string{"user"}, args...), "--database", dsn), &out, io.Discard)
		return out.String(), err
	}
	login := func(email, password string) (string, error) {
		t.Helper()
		_, _, token, err := svc.Login(ctx, accounts.LoginParams{Email: email, Password: password, IP: "127.0.0.1"})
		return token, err
	}

	t.Setenv(EnvPassword, "correct horse battery")
	out, err := user("add", "--email", "Ops@Hutong.Example", "--name", "运营", "--role", "operations")
	if err != nil || !strings.HasPrefix(out, "usr_") || !strings.Contains(out, "ops@hutong.example\toperations") {
		t.Fatalf("user add: %q, %v", out, err)
	}
	if _, err := user("add", "--email", "shop@county.example", "--name", "县城超市", "--role", "merchant", "--merchant", "m_county"); err != nil {
		t.Fatalf("user add of a portal user: %v", err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"add", "--email", "x@hutong.example", "--name", "X", "--role", "root"}, "admin, operations"},
		{[]string{"add", "--email", "x@hutong.example", "--name", "X", "--role", "merchant", "--merchant", "m_nobody"}, "no merchant m_nobody"},
		{[]string{"add", "--email", "ops@hutong.example", "--name", "X", "--role", "support"}, "exists"},
		{[]string{"disable", "--email", "nobody@hutong.example"}, "nobody@hutong.example"},
		{[]string{"logout"}, "--email is required"},
	} {
		if _, err := user(c.args...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("user %v: %v, want an error saying %q", c.args, err, c.want)
		}
	}
	out, err = user("list")
	if err != nil || !strings.Contains(out, "ops@hutong.example") || !strings.Contains(out, "m_county") || strings.Count(out, "active") != 2 {
		t.Fatalf("user list: %v\n%s", err, out)
	}

	if _, err := login("ops@hutong.example", "correct horse battery"); err != nil {
		t.Fatal(err)
	}
	if out, err := user("logout", "--email", "ops@hutong.example"); err != nil || !strings.Contains(out, "1 sessions ended") {
		t.Errorf("user logout: %q, %v", out, err)
	}
	if _, err := user("disable", "--email", "ops@hutong.example"); err != nil {
		t.Fatal(err)
	}
	if _, err := login("ops@hutong.example", "correct horse battery"); !errors.Is(err, accounts.ErrBadCredentials) {
		t.Errorf("a disabled user signing in: %v", err)
	}
	if out, err := user("list"); err != nil || !strings.Contains(out, "disabled") {
		t.Errorf("user list after disable: %v\n%s", err, out)
	}
	if _, err := user("enable", "--email", "ops@hutong.example"); err != nil {
		t.Fatal(err)
	}

	// Without the variable, the first line of a piped stdin.
	if err := os.Unsetenv(EnvPassword); err != nil { // t.Setenv above restores it
		t.Fatal(err)
	}
	pipe := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(pipe, []byte("a whole new passphrase\nignored\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(pipe)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	passwordStdin = f
	defer func() { passwordStdin = os.Stdin }()
	if _, err := user("password", "--email", "ops@hutong.example"); err != nil {
		t.Fatal(err)
	}
	if _, err := login("ops@hutong.example", "a whole new passphrase"); err != nil {
		t.Errorf("the password from stdin: %v", err)
	}

	entries, err := svc.AuditLog(ctx, accounts.AuditQuery{ActorID: ""})
	if err != nil {
		t.Fatal(err)
	}
	actions := map[string]bool{}
	for _, e := range entries {
		if strings.HasPrefix(e.ActorEmail, "cli:") && e.ActorID == "" {
			actions[e.Action] = true
		}
	}
	for _, a := range []string{"user.add", "session.logout_everywhere", "user.disable", "user.enable", "user.password"} {
		if !actions[a] {
			t.Errorf("no audit entry of %s by the CLI in %+v", a, entries)
		}
	}
}

func TestUserSubcommandsHaveHelp(t *testing.T) {
	t.Parallel()
	for _, c := range userCommands() {
		var out bytes.Buffer
		err := run([]string{"user", c.name, "--help"}, &out, &out)
		if !errors.Is(err, flag.ErrHelp) || !strings.Contains(out.String(), "Usage:\n  hutong user "+c.name) {
			t.Errorf("user %s --help: %v\n%s", c.name, err, out.String())
		}
	}
	if err := run([]string{"user"}, io.Discard, io.Discard); err == nil {
		t.Error("user without a subcommand succeeded")
	}
}
