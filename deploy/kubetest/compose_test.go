package kubetest

// docker-compose.yml and the partners overlay loaded by the Compose
// specification's own loader (github.com/compose-spec/compose-go/v2, what
// `docker compose` v2 runs), beside deploy/compose_test.go's checks against
// the binary: the files are valid Compose, a missing IOC_SECRETS_DIR stops
// Compose with its message, and after interpolation and merging every role
// reads its passwords from secret files and from no variable.

import (
	"context"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

func loadCompose(t *testing.T, env map[string]string, files ...string) (*types.Project, error) {
	t.Helper()
	root := repoRoot(t)
	var paths, kv []string
	for _, f := range files {
		paths = append(paths, filepath.Join(root, f))
	}
	for k, v := range env {
		kv = append(kv, k+"="+v)
	}
	// Only this environment: nothing from the shell, no .env file.
	opts, err := cli.NewProjectOptions(paths, cli.WithWorkingDirectory(root), cli.WithEnv(kv), cli.WithProfiles([]string{"demo"}))
	if err != nil {
		t.Fatal(err)
	}
	return opts.LoadProject(context.Background())
}

var secretVarRE = regexp.MustCompile(`PASSWORD|SECRET|TOKEN|KEY`)

func TestComposeGoLoadsTheComposeFiles(t *testing.T) {
	env := map[string]string{"IOC_SECRETS_DIR": "/etc/ioc/secrets"}
	for name, files := range map[string][]string{
		"base":     {"docker-compose.yml"},
		"partners": {"docker-compose.yml", "deploy/mosquitto/compose.partners.yml"},
	} {
		t.Run(name, func(t *testing.T) {
			p, err := loadCompose(t, env, files...)
			if err != nil {
				t.Fatalf("compose-go: %v", err)
			}
			if len(p.Secrets) == 0 {
				t.Fatal("no secrets")
			}
			for sname, s := range p.Secrets {
				if s.File == "" || s.Environment != "" || s.External {
					t.Errorf("secret %s: want a file (got file %q, environment %q, external %v)", sname, s.File, s.Environment, s.External)
				}
			}
			if f := p.Secrets["mqtt-ingest-password"].File; f != "/etc/ioc/secrets/mqtt-ingest-password" {
				t.Errorf("ingest's MQTT password is %s, want IOC_SECRETS_DIR/mqtt-ingest-password", f)
			}
			accounts := map[string]string{}
			for _, svc := range p.Services {
				for k, v := range svc.Environment {
					if v != nil && secretVarRE.MatchString(k) && !(strings.HasSuffix(k, "_FILE") && strings.HasPrefix(*v, "/run/secrets/")) {
						t.Errorf("%s: %s in the environment; passwords are secret files", svc.Name, k)
					}
				}
				var targets []string
				for _, s := range svc.Secrets {
					if _, ok := p.Secrets[s.Source]; !ok {
						t.Errorf("%s: secret %s is not declared", svc.Name, s.Source)
					}
					target := s.Target
					if target == "" {
						target = s.Source
					}
					if slices.Contains(targets, target) {
						t.Errorf("%s: two secrets at %s", svc.Name, target)
					}
					targets = append(targets, target)
					if target == "clickhouse-password" {
						accounts[svc.Name] = s.Source
					}
				}
			}
			// One password per account: each ClickHouse-using role its own secret.
			want := map[string]string{"migrate": "clickhouse-admin-password", "stream": "clickhouse-pipeline-password", "dashboard": "clickhouse-dashboard-password"}
			for svc, sec := range want {
				if accounts[svc] != sec {
					t.Errorf("%s: ClickHouse password from %q, want %s", svc, accounts[svc], sec)
				}
			}
			if _, ok := accounts["ingest"]; ok {
				t.Error("ingest mounts a ClickHouse password; it uses no ClickHouse account")
			}
		})
	}
}

func TestComposeGoRefusesAMissingSecretsDir(t *testing.T) {
	_, err := loadCompose(t, map[string]string{}, "docker-compose.yml")
	if err == nil || !strings.Contains(err.Error(), "IOC_SECRETS_DIR") {
		t.Fatalf("loading without IOC_SECRETS_DIR: %v; want Compose to stop and name IOC_SECRETS_DIR", err)
	}
	t.Logf("compose-go: %v", err)
}
