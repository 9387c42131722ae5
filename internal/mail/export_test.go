package mail

import "crypto/x509"

// SMTPSettings is what ParseSMTP read, for tests.
type SMTPSettings struct {
	Host, Username, Password, TLS string
	Port                          int
}

func (s *SMTP) Settings() SMTPSettings {
	return SMTPSettings{Host: s.host, Port: s.port, Username: s.username, Password: s.password, TLS: s.tls.String()}
}

// TrustRoots makes s trust pool's certificates for STARTTLS.
func (s *SMTP) TrustRoots(pool *x509.CertPool) { s.rootCAs = pool }
