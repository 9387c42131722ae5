// Package mail delivers the mail that scimbridge queues in its
// transactional outbox (invitations): a worker takes due mails from the
// store one at a time and sends them over SMTP with
// github.com/wneessen/go-mail. With no SMTP configured it sends nothing
// and logs that it did not, with how to get the link: never the link,
// which is a credential (whoever holds it joins the organization), and
// logs are read and kept by more people than those who may invite.
package mail

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/scimbridge/scimbridge/internal/directory"
)

// Message is one mail.
type Message struct {
	To      string
	Subject string
	Text    string
}

// Sender sends a message.
type Sender interface {
	Send(ctx context.Context, m Message) error
}

// SMTP sends through an SMTP server.
type SMTP struct {
	host     string
	port     int
	from     string
	username string
	password string
	tls      gomail.TLSPolicy
	// rootCAs replaces the system's roots for STARTTLS when set: tests
	// set it to trust an in-process server's certificate.
	rootCAs *x509.CertPool
}

// ParseSMTP reads an SMTP URL: smtp://[user:password@]host[:port][?tls=mandatory|opportunistic|none].
// The default port is 587 and TLS is mandatory (STARTTLS), except on
// localhost, where it is opportunistic. Errors never echo the password.
func ParseSMTP(raw, from string) (*SMTP, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "smtp" || u.Hostname() == "" {
		return nil, errors.New("SMTP URL: want smtp://[user:password@]host[:port][?tls=mandatory|opportunistic|none]")
	}
	if _, err := directory.NormalizeAddress(from); err != nil {
		return nil, fmt.Errorf("mail from: %w", err)
	}
	s := &SMTP{host: u.Hostname(), port: 587, from: from, tls: gomail.TLSMandatory}
	if p := u.Port(); p != "" {
		if s.port, err = strconv.Atoi(p); err != nil || s.port <= 0 || s.port > 65535 {
			return nil, errors.New("SMTP URL: bad port")
		}
	}
	if s.host == "localhost" || s.host == "127.0.0.1" || s.host == "::1" {
		s.tls = gomail.TLSOpportunistic
	}
	switch strings.ToLower(u.Query().Get("tls")) {
	case "":
	case "mandatory":
		s.tls = gomail.TLSMandatory
	case "opportunistic":
		s.tls = gomail.TLSOpportunistic
	case "none":
		s.tls = gomail.NoTLS
	default:
		return nil, errors.New("SMTP URL: tls must be mandatory, opportunistic or none")
	}
	if u.User != nil {
		s.username = u.User.Username()
		s.password, _ = u.User.Password()
	}
	return s, nil
}

// Send implements Sender.
func (s *SMTP) Send(ctx context.Context, m Message) error {
	msg := gomail.NewMsg()
	if err := msg.From(s.from); err != nil {
		return err
	}
	if err := msg.To(m.To); err != nil {
		return err
	}
	msg.Subject(m.Subject)
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	opts := []gomail.Option{gomail.WithPort(s.port), gomail.WithTLSPolicy(s.tls), gomail.WithTimeout(30 * time.Second)}
	if s.rootCAs != nil {
		opts = append(opts, gomail.WithTLSConfig(&tls.Config{ServerName: s.host, RootCAs: s.rootCAs, MinVersion: tls.VersionTLS12}))
	}
	if s.username != "" {
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthPlain), gomail.WithUsername(s.username), gomail.WithPassword(s.password))
	}
	c, err := gomail.NewClient(s.host, opts...)
	if err != nil {
		return err
	}
	return c.DialAndSendWithContext(ctx, msg)
}

// Outbox is what the worker needs of the store: see postgres.DB.DeliverNext.
type Outbox interface {
	DeliverNext(ctx context.Context, deliver func(ctx context.Context, inv directory.Invitation, secret string) error) (bool, error)
}

// Worker delivers the outbox.
type Worker struct {
	Outbox Outbox
	// Sender nil means that no SMTP server is configured: each mail is
	// logged as not sent, with the command that prints its join link.
	Sender Sender
	// BaseURL is the externally visible base URL, for join links.
	BaseURL string
	// Org maps an organization id to the organization: its name is shown
	// in mails, its slug in the hint of a mail not sent.
	Org func(ctx context.Context, orgID string) (directory.Organization, error)
	Log *slog.Logger
}

// JoinLink is the link an invitation mail carries.
func JoinLink(base, secret string) string {
	return strings.TrimRight(base, "/") + "/invite/accept?token=" + url.QueryEscape(secret)
}

func (w *Worker) org(ctx context.Context, orgID string) directory.Organization {
	if w.Org != nil {
		if o, err := w.Org(ctx, orgID); err == nil {
			return o
		}
	}
	return directory.Organization{ID: orgID, Slug: "ORG", Name: "your organization"}
}

func (w *Worker) render(ctx context.Context, inv directory.Invitation, secret string) Message {
	org := w.org(ctx, inv.OrgID).Name
	return Message{
		To:      inv.Email,
		Subject: "You are invited to join " + org,
		Text: fmt.Sprintf("You have been invited to join %s.\n\nOpen this link to join (it works once, until %s):\n\n%s\n\nIf you did not expect this invitation, ignore this mail.\n",
			org, inv.ExpiresAt.UTC().Format("2006-01-02 15:04 MST"), JoinLink(w.BaseURL, secret)),
	}
}

// DeliverDue sends every due mail and returns how many it handled.
func (w *Worker) DeliverDue(ctx context.Context) (int, error) {
	n := 0
	for ctx.Err() == nil {
		found, err := w.Outbox.DeliverNext(ctx, func(ctx context.Context, inv directory.Invitation, secret string) error {
			if w.Sender == nil {
				w.notSent(ctx, inv)
				return nil
			}
			return w.Sender.Send(ctx, w.render(ctx, inv, secret))
		})
		if err != nil || !found {
			return n, err
		}
		n++
	}
	return n, ctx.Err()
}

// notSent logs that an invitation's mail was not sent, and how an
// operator gets its link. It names the recipient's domain only: the log
// needs no address to tell the invitations apart, the id does that.
func (w *Worker) notSent(ctx context.Context, inv directory.Invitation) {
	o := w.org(ctx, inv.OrgID)
	_, domain, _ := strings.Cut(inv.Email, "@")
	log := w.Log
	if log == nil {
		log = slog.Default()
	}
	log.InfoContext(ctx, "invitation mail not sent: no SMTP server is configured (serve --smtp-url)",
		"invitation", inv.ID, "org", o.Slug, "to_domain", domain,
		"get_link", "scimbridge invite link --org "+o.Slug+" "+inv.ID)
}

// Run delivers due mail every interval until ctx ends.
func (w *Worker) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := w.DeliverDue(ctx); err != nil && ctx.Err() == nil {
			w.Log.Error("deliver outbox", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
