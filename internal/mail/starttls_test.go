package mail_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/scimbridge/scimbridge/internal/mail"
)

// selfSigned is a certificate for 127.0.0.1, and a pool that trusts it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "smtp test"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

// seen is what a test SMTP server was told: each AUTH and each MAIL
// FROM, with whether the connection was encrypted at that moment.
type seen struct {
	mu    sync.Mutex
	auths []auth
	mails []bool // TLS at MAIL FROM
	data  int
}

type auth struct {
	username, password string
	tls                bool
}

type tlsSession struct {
	s    *seen
	conn *smtp.Conn
}

func (s tlsSession) encrypted() bool { _, ok := s.conn.TLSConnectionState(); return ok }

func (s tlsSession) AuthMechanisms() []string { return []string{sasl.Plain} }
func (s tlsSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, username, password string) error {
		s.s.mu.Lock()
		defer s.s.mu.Unlock()
		s.s.auths = append(s.s.auths, auth{username, password, s.encrypted()})
		return nil
	}), nil
}
func (s tlsSession) Mail(string, *smtp.MailOptions) error {
	s.s.mu.Lock()
	defer s.s.mu.Unlock()
	s.s.mails = append(s.s.mails, s.encrypted())
	return nil
}
func (s tlsSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s tlsSession) Data(r io.Reader) error {
	_, err := io.Copy(io.Discard, r)
	s.s.mu.Lock()
	s.s.data++
	s.s.mu.Unlock()
	return err
}
func (s tlsSession) Reset()        {}
func (s tlsSession) Logout() error { return nil }

// startTLSServer starts an SMTP server on loopback that offers STARTTLS
// with cert when starttls is set, and takes AUTH PLAIN even without TLS:
// credentials a client sends in clear reach it, and the test sees them.
func startTLSServer(t *testing.T, cert tls.Certificate, starttls bool) (string, *seen) {
	t.Helper()
	got := &seen{}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) { return tlsSession{got, c}, nil }))
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	if starttls {
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String(), got
}

// The sender follows the URL's TLS policy against a real server: mandatory
// TLS sends nothing, not even the credentials, to a server that offers no
// STARTTLS; opportunistic TLS uses it when offered; credentials go as
// AUTH PLAIN, inside TLS when there is TLS.
func TestSMTPSenderUsesSTARTTLSAndCredentialsAsConfigured(t *testing.T) {
	t.Parallel()
	cert, pool := selfSigned(t)
	creds := url.UserPassword("bridge", "s3cr@t:pw")
	cases := []struct {
		name     string
		query    string // the URL's ?tls=, "" for the default
		user     *url.Userinfo
		starttls bool // the server offers it
		sent     bool
		tls      bool // the mail went over TLS
	}{
		{"mandatory, not offered: nothing is sent", "mandatory", creds, false, false, false},
		{"mandatory, offered", "mandatory", creds, true, true, true},
		{"opportunistic, offered: used", "opportunistic", creds, true, true, true},
		{"opportunistic, not offered: in clear", "opportunistic", creds, false, true, false},
		{"default on loopback is opportunistic", "", creds, true, true, true},
		{"none: not used even when offered", "none", creds, true, true, false},
		{"no credentials: no AUTH", "mandatory", nil, true, true, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			addr, got := startTLSServer(t, cert, c.starttls)
			u := url.URL{Scheme: "smtp", Host: addr, User: c.user}
			if c.query != "" {
				u.RawQuery = "tls=" + c.query
			}
			s, err := mail.ParseSMTP(u.String(), "scimbridge@example.com")
			if err != nil {
				t.Fatal(err)
			}
			s.TrustRoots(pool)
			err = s.Send(context.Background(), mail.Message{To: "ann@example.com", Subject: "hi", Text: "hello"})
			if (err == nil) != c.sent {
				t.Fatalf("send: %v, want sent=%v", err, c.sent)
			}
			got.mu.Lock()
			defer got.mu.Unlock()
			if !c.sent {
				if len(got.auths) != 0 || len(got.mails) != 0 || got.data != 0 {
					t.Fatalf("the server got %d AUTH (%+v), %d MAIL, %d messages", len(got.auths), got.auths, len(got.mails), got.data)
				}
				return
			}
			if len(got.mails) != 1 || got.mails[0] != c.tls || got.data != 1 {
				t.Fatalf("MAIL over TLS %v, %d messages; want one, TLS %v", got.mails, got.data, c.tls)
			}
			var want []auth
			if c.user != nil {
				pw, _ := c.user.Password()
				want = []auth{{c.user.Username(), pw, c.tls}}
			}
			if len(got.auths) != len(want) || len(want) == 1 && got.auths[0] != want[0] {
				t.Fatalf("AUTH %+v, want %+v", got.auths, want)
			}
		})
	}
}
