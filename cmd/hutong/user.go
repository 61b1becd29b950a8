package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	osuser "os/user"
	"strings"
	"text/tabwriter"

	"github.com/hutong-pay/hutong/internal/accounts"
	"github.com/hutong-pay/hutong/internal/store"
)

// EnvPassword carries a new console password into `hutong user add` and
// `hutong user password`. It is never a flag: a command line shows in ps
// to every user of the machine.
const EnvPassword = "HUTONG_PASSWORD"

// passwordStdin is where a password is read from when EnvPassword is
// unset: its first line, if it is not a terminal. Tests replace it.
var passwordStdin = os.Stdin

type userCommand struct {
	name, synopsis string
	run            func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func userCommands() []userCommand {
	return []userCommand{
		{"add", "add a user; the password from " + EnvPassword + " or stdin", runUserAdd},
		{"list", "list console users", runUserList},
		{"disable", "disable a user and end all their sessions", func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
			return runUserSetDisabled(ctx, "disable", true, args, stdout, stderr)
		}},
		{"enable", "enable a disabled user again", func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
			return runUserSetDisabled(ctx, "enable", false, args, stdout, stderr)
		}},
		{"password", "set a user's password and end their sessions", runUserPassword},
		{"logout", "end every session of a user", runUserLogout},
	}
}

func runUser(args []string, stdout, stderr io.Writer) error {
	var names strings.Builder
	for _, c := range userCommands() {
		fmt.Fprintf(&names, "\n  hutong user %-9s %s", c.name, c.synopsis)
	}
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		for _, c := range userCommands() {
			if c.name == args[0] {
				ctx := accounts.WithActor(context.Background(), accounts.User{Email: "cli:" + osUserName()})
				return c.run(ctx, args[1:], stdout, stderr)
			}
		}
	}
	fs := newFlagSet("user", "", stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage:\n  hutong user <subcommand> [flags]\n\nManages the users of the operator console and the merchant portals. Each\nchange is recorded in the audit log as made by cli:<os user>.\n%s\n\nRun \"hutong user <subcommand> --help\" for its flags.\n", names.String())
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	fs.Usage()
	if len(args) == 0 {
		return errors.New("user: name a subcommand")
	}
	return fmt.Errorf("user: unknown subcommand %q", args[0])
}

// userFlags are a user subcommand's flags: --database always, --email
// when it names an existing user.
type userFlags struct {
	fs    *flag.FlagSet
	dsn   *string
	email *string
}

func newUserFlags(name, synopsis string, withEmail bool, stderr io.Writer) userFlags {
	fs := newFlagSet("user "+name, synopsis, stderr)
	f := userFlags{fs: fs, dsn: fs.String("database", store.DefaultDSN, "database: sqlite:PATH or a postgres:// URL")}
	if withEmail {
		f.email = fs.String("email", "", "required: the user's `EMAIL`")
	}
	return f
}

// open parses args and opens the database; the caller closes it.
func (f userFlags) open(ctx context.Context, args []string) (*accounts.Service, func(), error) {
	if err := parseFlags(f.fs, args); err != nil {
		return nil, nil, err
	}
	if f.fs.NArg() > 0 {
		return nil, nil, fmt.Errorf("%s: unexpected arguments %q", f.fs.Name(), f.fs.Args())
	}
	if f.email != nil && *f.email == "" {
		return nil, nil, fmt.Errorf("%s: --email is required", f.fs.Name())
	}
	db, err := store.Open(ctx, *f.dsn)
	if err != nil {
		return nil, nil, err
	}
	return &accounts.Service{DB: db}, func() { db.Close() }, nil
}

// openUser is open, and the user --email names; the caller closes the
// database.
func (f userFlags) openUser(ctx context.Context, args []string) (*accounts.Service, accounts.User, func(), error) {
	svc, closeDB, err := f.open(ctx, args)
	if err != nil {
		return nil, accounts.User{}, nil, err
	}
	u, err := svc.UserByEmail(ctx, *f.email)
	if err != nil {
		closeDB()
		return nil, u, nil, fmt.Errorf("%s: %w", f.fs.Name(), err)
	}
	return svc, u, closeDB, nil
}

func runUserAdd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newUserFlags("add", `Adds a user of the console, or with --role merchant of one merchant's portal.
The password is read from `+EnvPassword+` or else the first line of stdin
(never a flag, which ps would show):

  read -rs HUTONG_PASSWORD && export HUTONG_PASSWORD
  hutong user add --email ops@example.com --name "Ops" --role operations`, false, stderr)
	email := f.fs.String("email", "", "required: the user's `EMAIL`, which they sign in with")
	name := f.fs.String("name", "", "required: the user's `NAME`, as the console shows it")
	role := f.fs.String("role", "", "required: `ROLE`: admin, operations, finance, support or merchant")
	merchantID := f.fs.String("merchant", "", "merchant `ID`, for the merchant role only")
	svc, closeDB, err := f.open(ctx, args)
	if err != nil {
		return err
	}
	defer closeDB()
	r, err := accounts.ParseRole(*role)
	if err != nil {
		return fmt.Errorf("user add: --role: %w", err)
	}
	password, err := readPassword()
	if err != nil {
		return fmt.Errorf("user add: %w", err)
	}
	u, err := svc.AddUser(ctx, accounts.AddUserParams{Email: *email, Name: *name, Role: r, MerchantID: *merchantID, Password: password})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s\t%s\t%s\n", u.ID, u.Email, u.Role)
	return nil
}

func runUserList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newUserFlags("list", "Lists the users of the console and of the merchant portals, by email.", false, stderr)
	svc, closeDB, err := f.open(ctx, args)
	if err != nil {
		return err
	}
	defer closeDB()
	users, err := svc.Users(ctx)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tEMAIL\tNAME\tROLE\tMERCHANT\tSTATUS\tCREATED (UTC)")
	for _, u := range users {
		status := "active"
		if u.Disabled {
			status = "disabled"
		}
		merchant := u.MerchantID
		if merchant == "" {
			merchant = "-"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", u.ID, u.Email, u.Name, u.Role, merchant, status, u.CreatedAt.Format("2006-01-02 15:04"))
	}
	return w.Flush()
}

func runUserSetDisabled(ctx context.Context, name string, disabled bool, args []string, stdout, stderr io.Writer) error {
	synopsis := "Disables a user: they cannot sign in, and every session of theirs ends."
	if !disabled {
		synopsis = "Enables a disabled user again: they can sign in with their password."
	}
	f := newUserFlags(name, synopsis, true, stderr)
	svc, u, closeDB, err := f.openUser(ctx, args)
	if err != nil {
		return err
	}
	defer closeDB()
	if err := svc.SetDisabled(ctx, u.ID, disabled); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s %sd\n", u.Email, name)
	return nil
}

func runUserPassword(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newUserFlags("password", `Sets a user's password, read from `+EnvPassword+` or else the first line of
stdin, and ends every session of theirs.`, true, stderr)
	svc, u, closeDB, err := f.openUser(ctx, args)
	if err != nil {
		return err
	}
	defer closeDB()
	password, err := readPassword()
	if err != nil {
		return fmt.Errorf("user password: %w", err)
	}
	if err := svc.SetPassword(ctx, u.ID, password); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s has a new password; their sessions have ended\n", u.Email)
	return nil
}

func runUserLogout(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newUserFlags("logout", "Ends every session of a user, on every browser: for a lost laptop.", true, stderr)
	svc, u, closeDB, err := f.openUser(ctx, args)
	if err != nil {
		return err
	}
	defer closeDB()
	n, err := svc.LogoutEverywhere(ctx, u.ID)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: %d sessions ended\n", u.Email, n)
	return nil
}

// readPassword is EnvPassword, or else the first line of passwordStdin
// when that is not a terminal: a terminal would echo it.
func readPassword() (string, error) {
	if pw, ok := os.LookupEnv(EnvPassword); ok {
		return pw, nil
	}
	fi, err := passwordStdin.Stat()
	if err != nil {
		return "", fmt.Errorf("reading the password from stdin: %w", err)
	}
	if fi.Mode()&os.ModeCharDevice != 0 {
		return "", fmt.Errorf("give the password in %s or as the first line of stdin (read -rs %s && export %s)", EnvPassword, EnvPassword, EnvPassword)
	}
	line, err := bufio.NewReader(io.LimitReader(passwordStdin, 4096)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("reading the password from stdin: %w", err)
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// osUserName names who ran the command, for the audit log.
func osUserName() string {
	if u, err := osuser.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	if name := os.Getenv("USER"); name != "" {
		return name
	}
	return "unknown"
}
