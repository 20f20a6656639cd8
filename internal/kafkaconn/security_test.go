package kafkaconn

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// SASL and TLS come from configuration; every connection kind (writers'
// and admin transport, readers' dialer) carries them, and a setting that
// cannot work is refused at start.
func TestSecurityConfig(t *testing.T) {
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "kafka.password")
	if err := os.WriteFile(pwFile, []byte("s3cret-from-a-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	badCA := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(badCA, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		sasl     SASLConfig
		tls      TLSConfig
		wantErr  string
		wantMech string
		wantTLS  bool
	}{
		{name: "none"},
		{name: "plain+tls", sasl: SASLConfig{Mechanism: "plain", Username: "ioc", PasswordFile: pwFile}, tls: TLSConfig{Enabled: true}, wantMech: "PLAIN", wantTLS: true},
		{name: "scram-256", sasl: SASLConfig{Mechanism: "scram-sha-256", Username: "ioc", Password: "x"}, wantMech: "SCRAM-SHA-256"},
		{name: "scram-512", sasl: SASLConfig{Mechanism: "SCRAM-SHA-512", Username: "ioc", Password: "x"}, wantMech: "SCRAM-SHA-512"},
		{name: "unknown mechanism", sasl: SASLConfig{Mechanism: "gssapi", Username: "ioc"}, wantErr: "not plain"},
		{name: "no user", sasl: SASLConfig{Mechanism: "plain"}, wantErr: "username"},
		{name: "both passwords", sasl: SASLConfig{Mechanism: "plain", Username: "u", Password: "p", PasswordFile: pwFile}, wantErr: "not both"},
		{name: "missing password file", sasl: SASLConfig{Mechanism: "plain", Username: "u", PasswordFile: filepath.Join(dir, "nope")}, wantErr: "password_file"},
		{name: "bad ca", tls: TLSConfig{Enabled: true, CAFile: badCA}, wantErr: "no PEM"},
		{name: "files without tls", tls: TLSConfig{CAFile: badCA}, wantErr: "enabled is false"},
		{name: "cert without key", tls: TLSConfig{Enabled: true, CertFile: badCA}, wantErr: "go together"},
	} {
		c := Config{SASL: tc.sasl, TLS: tc.tls}
		c.Defaults()
		err := c.Validate()
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%s: error %v, want one mentioning %q", tc.name, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		tr, d := c.Transport(), c.Dialer()
		gotMech := ""
		if tr.SASL != nil {
			gotMech = tr.SASL.Name()
		}
		if gotMech != tc.wantMech || (d.SASLMechanism == nil) != (tc.wantMech == "") {
			t.Errorf("%s: transport mechanism %q (dialer set %v), want %q", tc.name, gotMech, d.SASLMechanism != nil, tc.wantMech)
		}
		if (tr.TLS != nil) != tc.wantTLS || (d.TLS != nil) != tc.wantTLS {
			t.Errorf("%s: TLS on transport %v, dialer %v; want %v", tc.name, tr.TLS != nil, d.TLS != nil, tc.wantTLS)
		}
	}
}
