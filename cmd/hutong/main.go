// Command hutong is the one binary of hutong, the payment gateway that puts
// WeChat Pay and Alipay behind one API. Each job is a subcommand:
//
//	hutong demo          gateway and sandbox together, on embedded SQLite
//	hutong serve         run the payment gateway
//	hutong sandbox       run the local wallet sandbox (WeChat Pay API v3, Alipay)
//	hutong migrate       apply the database migrations
//	hutong user          manage console users: add, list, disable, password, logout
//	hutong bench         lifecycles through the gateway against the wallet SDKs directly
//	hutong version       print the version
//
// Every subcommand has --help. Flags have HUTONG_* environment equivalents:
// --time-scale is HUTONG_TIME_SCALE.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

type command struct {
	name    string
	summary string
	run     func(args []string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"demo", "run gateway and wallet sandbox together on embedded SQLite, with demo merchants", runDemo},
		{"serve", "run the payment gateway (merchant API, wallet notifications)", runServe},
		{"sandbox", "run the local wallet sandbox (WeChat Pay API v3, Alipay OpenAPI, helper API)", runSandbox},
		{"reconcile", "reconcile a wallet's daily bill against the ledger", runReconcile},
		{"key", "create an API key (and its merchant) and print it", runKey},
		{"user", "manage console users: add, list, disable, password, logout", runUser},
		{"chaos", "drive payments through gateways killed at random and faulty wallets, then audit", runChaos},
		{"bench", "measure payment lifecycles through the gateway against the wallet SDKs directly", runBench},
		{"migrate", "apply the database migrations (SQLite or PostgreSQL) and exit", runMigrate},
		{"version", "print the version of this binary", runVersion},
	}
}

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "hutong:", err)
		var ee exitError
		if errors.As(err, &ee) {
			os.Exit(ee.code)
		}
		os.Exit(2)
	}
}

// exitError ends the program with its own status: a finding, not a failure
// to run (1 for discrepancies found by reconcile).
type exitError struct {
	code int
	msg  string
}

func (e exitError) Error() string { return e.msg }

func run(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		// Like go and git: asked nothing, the answer is how to ask, and
		// the status says no work was done.
		usage(stderr)
		return exitError{code: 2, msg: "no command given"}
	}
	if args[0] == "help" || args[0] == "-h" || args[0] == "--help" || args[0] == "-help" {
		usage(stdout)
		return nil
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(args[1:], stdout, stderr)
		}
	}
	usage(stderr)
	return fmt.Errorf("unknown command %q", args[0])
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "hutong — one payment gateway for WeChat Pay and Alipay")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Usage: hutong <command> [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Commands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, `Run "hutong <command> --help" for a command's flags.`)
}

// newFlagSet makes a subcommand's flag set. Its usage line is written from
// the flags themselves, so it can never leave one out; flags whose usage text
// starts with "required:" are shown without brackets.
func newFlagSet(name, synopsis string, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() {
		fmt.Fprintf(out, "Usage:\n%s\n\n%s\n\nFlags (each also read from HUTONG_<FLAG> in the environment):\n", usageLine(fs), synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// usageLine is "  hutong NAME --required X [--flag DEFAULT] …", wrapped at
// 80 columns under the command's name.
func usageLine(fs *flag.FlagSet) string {
	var required, optional []string
	fs.VisitAll(func(f *flag.Flag) {
		placeholder, _ := flag.UnquoteUsage(f)
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			placeholder = ""
		} else if f.DefValue != "" && !strings.Contains(f.Usage, "`") {
			placeholder = f.DefValue
		}
		word := "--" + f.Name
		if placeholder != "" {
			word += " " + placeholder
		}
		if strings.HasPrefix(f.Usage, "required:") {
			required = append(required, word)
		} else {
			optional = append(optional, "["+word+"]")
		}
	})
	head := "  hutong " + fs.Name()
	var b strings.Builder
	b.WriteString(head)
	col := len(head)
	for _, w := range append(required, optional...) {
		if col+1+len(w) > 80 {
			b.WriteString("\n" + strings.Repeat(" ", len(head)))
			col = len(head)
		}
		b.WriteString(" " + w)
		col += 1 + len(w)
	}
	return b.String()
}

// parseFlags parses args, then fills every flag not given on the command
// line from its HUTONG_* environment variable.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || err != nil {
			return
		}
		env := "HUTONG_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(env); ok {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("%s=%q: %w", env, v, e)
			}
		}
	})
	return err
}
