package kafkaconn

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"
)

// SASLConfig authenticates the pipeline to Kafka (docs/security.md). The
// password comes from password_file or IOC_KAFKA_SASL_PASSWORD, never from
// the repository.
type SASLConfig struct {
	// Mechanism: "" (none), "plain", "scram-sha-256" or "scram-sha-512".
	// PLAIN sends the password as it is: use it only together with TLS.
	Mechanism    string `yaml:"mechanism"`
	Username     string `yaml:"username"`
	Password     string `yaml:"password"`
	PasswordFile string `yaml:"password_file"`
}

// TLSConfig encrypts the connections to Kafka and checks the brokers'
// certificates (and, with cert_file and key_file, presents the client's).
type TLSConfig struct {
	Enabled  bool   `yaml:"enabled"`
	CAFile   string `yaml:"ca_file"` // PEM bundle of the CA that signed the brokers; empty: the system's
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ServerName overrides the name checked in the brokers' certificates.
	ServerName string `yaml:"server_name"`
	// InsecureSkipVerify turns the certificate check off: for a test
	// broker only, never in production.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
}

func (s SASLConfig) password() (string, error) {
	if s.PasswordFile == "" {
		return s.Password, nil
	}
	b, err := os.ReadFile(s.PasswordFile)
	if err != nil {
		return "", fmt.Errorf("kafka.sasl.password_file: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// mechanism builds the SASL mechanism, nil when none is configured.
func (s SASLConfig) mechanism() (sasl.Mechanism, error) {
	if s.Mechanism == "" {
		return nil, nil
	}
	if s.Username == "" {
		return nil, errors.New("kafka.sasl.username: required with a mechanism")
	}
	if s.Password != "" && s.PasswordFile != "" {
		return nil, errors.New("kafka.sasl: set password or password_file, not both")
	}
	pw, err := s.password()
	if err != nil {
		return nil, err
	}
	switch strings.ToLower(s.Mechanism) {
	case "plain":
		return plain.Mechanism{Username: s.Username, Password: pw}, nil
	case "scram-sha-256":
		return scram.Mechanism(scram.SHA256, s.Username, pw)
	case "scram-sha-512":
		return scram.Mechanism(scram.SHA512, s.Username, pw)
	}
	return nil, fmt.Errorf("kafka.sasl.mechanism: %q is not plain, scram-sha-256 or scram-sha-512", s.Mechanism)
}

// config builds the TLS configuration, nil when TLS is off.
func (t TLSConfig) config() (*tls.Config, error) {
	if !t.Enabled {
		if t.CAFile != "" || t.CertFile != "" || t.KeyFile != "" {
			return nil, errors.New("kafka.tls: files are set but enabled is false")
		}
		return nil, nil
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("kafka.tls.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("kafka.tls.ca_file %s: no PEM certificate in it", t.CAFile)
		}
		c.RootCAs = pool
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		return nil, errors.New("kafka.tls: cert_file and key_file go together")
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("kafka.tls client certificate: %w", err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

// security is the SASL mechanism and TLS configuration of every
// connection; Validate has already checked that they build.
func (c *Config) security() (sasl.Mechanism, *tls.Config) {
	m, _ := c.SASL.mechanism()
	t, _ := c.TLS.config()
	return m, t
}

func (c *Config) validateSecurity() error {
	if _, err := c.SASL.mechanism(); err != nil {
		return err
	}
	if _, err := c.TLS.config(); err != nil {
		return err
	}
	return nil
}
