package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/user"
	"strings"
	"time"

	"github.com/sonla-ioc/ioc/internal/audit"
	"github.com/sonla-ioc/ioc/internal/auth"
)

// auditRole runs an audit writer beside a role (the ingest role's endpoint
// for administrative systems records its refusals with one).
type auditRole struct{ *audit.Writer }

func (auditRole) Ready() bool { return true }

const accessUsage = `ioc user — dashboard accounts (stored in ClickHouse, audited)
  ioc user add     -name NAME -role operator|leadership|analyst|admin [-display "Full name"] [-password-file F]
  ioc user set     -name NAME [-role R] [-display D] [-password-file F | -password-stdin]
  ioc user disable -name NAME        (its sessions end at once)
  ioc user enable  -name NAME
  ioc user list
ioc kiosk — read-only tokens of the video walls, scoped to the wall channel
  ioc kiosk create -name wall-1      (prints the token and the wall's URL once)
  ioc kiosk revoke -id ID
  ioc kiosk list
Passwords are read from -password-file or from standard input, never from the command line.
Every command takes -config FILE (or IOC_CONFIG) for the ClickHouse address and credentials.
`

// accessCommand runs `ioc user …` and `ioc kiosk …`.
func accessCommand(what string, args []string, in io.Reader, out io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "help" {
		fmt.Fprint(out, accessUsage)
		return 2
	}
	verb := args[0]
	fs := flag.NewFlagSet(what+" "+verb, flag.ContinueOnError)
	fs.SetOutput(out)
	configPath := fs.String("config", os.Getenv("IOC_CONFIG"), "configuration file (YAML)")
	name := fs.String("name", "", "account or kiosk name")
	id := fs.String("id", "", "kiosk id")
	role := fs.String("role", "", "operator, leadership, analyst or admin")
	display := fs.String("display", "", "display name")
	pwFile := fs.String("password-file", "", "file holding the password (first line)")
	pwStdin := fs.Bool("password-stdin", false, "set: read the new password from standard input")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	cfg, err := loadConfig(*configPath)
	if err != nil {
		fmt.Fprintln(out, "ioc "+what+":", err)
		return 1
	}
	log := newLogger(cfg.Log)
	err = withAuth(cfg, log, func(ctx context.Context, a *auth.Auth, actor auth.Principal) error {
		switch what + " " + verb {
		case "user add", "user set":
			c := auth.UserChange{Username: strings.ToLower(*name)}
			if *role != "" {
				r := auth.Role(*role)
				c.Role = &r
			}
			if *display != "" {
				c.DisplayName = display
			}
			if verb == "add" || *pwFile != "" || *pwStdin {
				pw, err := readPassword(*pwFile, in, out)
				if err != nil {
					return err
				}
				c.Password = &pw
			}
			u, err := a.SaveUser(ctx, c, actor, "")
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "account %s saved: role %s, disabled %v\n", u.Username, u.Role, u.Disabled)
		case "user disable", "user enable":
			off := verb == "disable"
			u, err := a.SaveUser(ctx, auth.UserChange{Username: strings.ToLower(*name), Disabled: &off}, actor, "")
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "account %s: disabled %v\n", u.Username, u.Disabled)
		case "user list":
			us, err := a.Users(ctx)
			if err != nil {
				return err
			}
			for _, u := range us {
				fmt.Fprintf(out, "%-24s %-11s disabled=%-5v changed %s by %s\n", u.Username, u.Role, u.Disabled,
					time.UnixMilli(u.UpdatedMs).Format(time.RFC3339), u.UpdatedBy)
			}
		case "kiosk create":
			k, tok, err := a.CreateKiosk(ctx, *name, actor, "")
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "kiosk %s (%s) valid until %s\n", k.ID, k.Name, time.UnixMilli(k.ExpiresMs).Format(time.RFC3339))
			fmt.Fprintf(out, "token (shown once; keep it like a password):\n  %s\n", tok)
			fmt.Fprintf(out, "open on the wall:  http(s)://<dashboard>/kiosk?token=%s\n", tok)
		case "kiosk revoke":
			if err := a.RevokeKiosk(ctx, *id, actor, ""); err != nil {
				return err
			}
			fmt.Fprintf(out, "kiosk %s revoked\n", *id)
		case "kiosk list":
			ks, err := a.Kiosks(ctx)
			if err != nil {
				return err
			}
			enc := json.NewEncoder(out)
			for _, k := range ks {
				_ = enc.Encode(k)
			}
		default:
			fmt.Fprint(out, accessUsage)
			return errors.New("unknown command")
		}
		return nil
	})
	if err != nil {
		fmt.Fprintln(out, "ioc "+what+" "+verb+":", err)
		return 1
	}
	return 0
}

// withAuth runs f with the dashboard's access control on the configured
// ClickHouse, then writes the audit events f caused.
func withAuth(cfg *Config, log *slog.Logger, f func(context.Context, *auth.Auth, auth.Principal) error) error {
	a, err := auth.New(cfg.Dashboard.Auth, auth.Options{ClickHouse: cfg.ClickHouse, Log: log})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = a.Run(ctx); close(done) }()
	who := "cli"
	if u, err := user.Current(); err == nil {
		who = "cli:" + u.Username
	}
	err = f(context.Background(), a, auth.Principal{Kind: "cli", Name: who, Role: auth.RoleAdmin})
	cancel()
	<-done // the audit writer flushes on its way out
	return err
}

func readPassword(file string, in io.Reader, out io.Writer) (string, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("reading -password-file: %w", err)
		}
		line, _, _ := strings.Cut(string(b), "\n")
		return strings.TrimRight(line, "\r"), nil
	}
	fmt.Fprintf(out, "password (at least %d characters), then Enter: ", auth.MinPasswordLength)
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && line == "" {
		return "", errors.New("no password on standard input")
	}
	fmt.Fprintln(out)
	return strings.TrimRight(line, "\r\n"), nil
}
