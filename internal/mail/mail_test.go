package mail_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"mime/quotedprintable"
	"net"
	netmail "net/mail"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/scimbridge/scimbridge/internal/directory"
	"github.com/scimbridge/scimbridge/internal/mail"
	"github.com/scimbridge/scimbridge/internal/pgtest"
	"github.com/scimbridge/scimbridge/internal/postgres"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// smtpServer is a real SMTP server on loopback that keeps what it gets,
// and can be told to refuse.
type smtpServer struct {
	addr    string
	failing atomic.Bool
	mu      sync.Mutex
	got     []string // message bodies
	rcpts   []string
}

type session struct{ s *smtpServer }

func (s session) Reset()        {}
func (s session) Logout() error { return nil }
func (s session) Mail(string, *smtp.MailOptions) error {
	if s.s.failing.Load() {
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
	}
	return nil
}
func (s session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.s.mu.Lock()
	s.s.rcpts = append(s.s.rcpts, to)
	s.s.mu.Unlock()
	return nil
}

// Data keeps the decoded text of a message, as a mail client shows it.
func (s session) Data(r io.Reader) error {
	msg, err := netmail.ReadMessage(r)
	if err != nil {
		return err
	}
	var body io.Reader = msg.Body
	if strings.EqualFold(msg.Header.Get("Content-Transfer-Encoding"), "quoted-printable") {
		body = quotedprintable.NewReader(body)
	}
	b, err := io.ReadAll(body)
	s.s.mu.Lock()
	s.s.got = append(s.s.got, "Subject: "+msg.Header.Get("Subject")+"\n"+string(b))
	s.s.mu.Unlock()
	return err
}

func startSMTP(t *testing.T) *smtpServer {
	t.Helper()
	ss := &smtpServer{}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return session{ss}, nil }))
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ss.addr = ln.Addr().String()
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	return ss
}

func (s *smtpServer) messages() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.got...)
}

var tokenRE = regexp.MustCompile(`token=(scb_inv_[A-Za-z0-9_-]+)`)

func setup(t *testing.T) (*postgres.DB, directory.Organization, *smtpServer, *mail.Worker) {
	t.Helper()
	db := pgtest.DB(t)
	org, err := db.CreateOrganization(context.Background(), "acme", "Acme Corp")
	if err != nil {
		t.Fatal(err)
	}
	ss := startSMTP(t)
	sender, err := mail.ParseSMTP("smtp://"+ss.addr+"?tls=none", "scimbridge@example.com")
	if err != nil {
		t.Fatal(err)
	}
	w := &mail.Worker{Outbox: db, Sender: sender, BaseURL: "https://bridge.example.com",
		Org: func(context.Context, string) (directory.Organization, error) { return org, nil }}
	return db, org, ss, w
}

var admin = directory.Actor{Kind: "test", Name: "admin"}

func TestInvitationMailIsDeliveredAndAcceptedOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, org, ss, w := setup(t)
	ws, err := db.CreateWorkspace(ctx, admin, org.ID, "data", nil)
	if err != nil {
		t.Fatal(err)
	}
	inv, err := db.CreateInvitation(ctx, admin, org.ID, "Ann@Example.com", false,
		[]directory.Binding{{Role: directory.RoleEditor, WorkspaceID: ws.ID}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := w.DeliverDue(ctx); err != nil || n != 1 {
		t.Fatalf("delivered %d, %v", n, err)
	}
	msgs := ss.messages()
	if len(msgs) != 1 || !strings.Contains(msgs[0], "Acme Corp") || ss.rcpts[0] != "Ann@Example.com" {
		t.Fatalf("mail: %q to %v", msgs, ss.rcpts)
	}
	m := tokenRE.FindStringSubmatch(msgs[0])
	if m == nil || !strings.Contains(msgs[0], "https://bridge.example.com/invite/accept?token=") {
		t.Fatalf("no join link in %q", msgs[0])
	}
	secret := m[1]
	// No plain token rests in the database.
	var n int
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM invitations i, outbox o WHERE i::text LIKE '%'||$1||'%' OR o::text LIKE '%'||$1||'%'`, secret).Scan(&n); err != nil || n != 0 {
		t.Fatalf("plain token stored (%d, %v)", n, err)
	}
	cases := []struct {
		name  string
		login directory.Login
		want  error
	}{
		{"unverified email", directory.Login{Email: "ann@example.com"}, directory.ErrForbidden},
		{"another address", directory.Login{Email: "eve@example.com", EmailVerified: true}, directory.ErrForbidden},
	}
	for _, c := range cases {
		if _, _, err := db.AcceptInvitation(ctx, secret, c.login); !errors.Is(err, c.want) {
			t.Fatalf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	_, member, err := db.AcceptInvitation(ctx, secret, directory.Login{Email: "ann@example.com", EmailVerified: true, Name: "Ann"})
	if err != nil {
		t.Fatal(err)
	}
	if member.Source != directory.SourceInvitation || member.DisplayName != "Ann" {
		t.Fatalf("member %+v", member)
	}
	acc, err := db.Access(ctx, org.ID, member.ID)
	if err != nil || acc.RoleOn(ws.ID) != directory.RoleEditor {
		t.Fatalf("initial grant: %v %v", acc, err)
	}
	// Once only.
	if _, _, err := db.AcceptInvitation(ctx, secret, directory.Login{Email: "ann@example.com", EmailVerified: true}); !errors.Is(err, directory.ErrUnauthorized) && !errors.Is(err, directory.ErrConflict) {
		t.Fatalf("reuse: %v", err)
	}
	// The address is a member now: a new invitation names the member.
	if _, err := db.CreateInvitation(ctx, admin, org.ID, "ann@example.com", false, nil, 0); !errors.Is(err, directory.ErrConflict) || !strings.Contains(err.Error(), "ann@example.com") {
		t.Fatalf("invite a member: %v", err)
	}
	_ = inv
}

func TestFailingSMTPIsRetriedWithBackoff(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, org, ss, w := setup(t)
	if _, err := db.CreateInvitation(ctx, admin, org.ID, "bob@example.com", false, nil, 0); err != nil {
		t.Fatal(err)
	}
	ss.failing.Store(true)
	if _, err := w.DeliverDue(ctx); err != nil {
		t.Fatal(err)
	}
	box, _ := db.Outbox(ctx, org.ID)
	if len(box) != 1 || box[0].Attempts != 1 || box[0].SentAt != nil || !strings.Contains(box[0].LastError, "try again later") {
		t.Fatalf("after a failure: %+v", box)
	}
	// Not due again at once (backoff)…
	if n, _ := w.DeliverDue(ctx); n != 0 {
		t.Fatalf("retried immediately (%d)", n)
	}
	// …and delivered once the server is back and the retry is due.
	ss.failing.Store(false)
	if err := db.RetryMailNow(ctx, org.ID); err != nil {
		t.Fatal(err)
	}
	if n, err := w.DeliverDue(ctx); n != 1 || err != nil {
		t.Fatalf("retry: %d %v", n, err)
	}
	if len(ss.messages()) != 1 {
		t.Fatalf("%d mails", len(ss.messages()))
	}
	box, _ = db.Outbox(ctx, org.ID)
	if box[0].SentAt == nil || box[0].Attempts != 2 {
		t.Fatalf("after the retry: %+v", box[0])
	}
}

func TestResendInvalidatesTheOldLinkAndExpiryAndRevocationEndIt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, org, ss, w := setup(t)
	inv, err := db.CreateInvitation(ctx, admin, org.ID, "cy@example.com", false, nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.DeliverDue(ctx); err != nil {
		t.Fatal(err)
	}
	if err := db.ResendInvitation(ctx, admin, org.ID, inv.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := w.DeliverDue(ctx); err != nil {
		t.Fatal(err)
	}
	msgs := ss.messages()
	if len(msgs) != 2 {
		t.Fatalf("%d mails", len(msgs))
	}
	old, cur := tokenRE.FindStringSubmatch(msgs[0])[1], tokenRE.FindStringSubmatch(msgs[1])[1]
	login := directory.Login{Email: "cy@example.com", EmailVerified: true}
	if _, _, err := db.AcceptInvitation(ctx, old, login); !errors.Is(err, directory.ErrUnauthorized) {
		t.Fatalf("old link: %v", err)
	}
	// Expired: the current link no longer works.
	if _, err := db.Pool.Exec(ctx, `UPDATE invitations SET expires_at = now() - interval '1 second'`); err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.AcceptInvitation(ctx, cur, login); !errors.Is(err, directory.ErrConflict) {
		t.Fatalf("expired: %v", err)
	}
	// A new invitation replaces the expired one; revoking it ends it.
	inv2, err := db.CreateInvitation(ctx, admin, org.ID, "cy@example.com", true, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.CreateInvitation(ctx, admin, org.ID, "CY@example.com", false, nil, 0); !errors.Is(err, directory.ErrConflict) {
		t.Fatalf("second pending invitation: %v", err)
	}
	if err := db.RevokeInvitation(ctx, admin, org.ID, inv2.ID); err != nil {
		t.Fatal(err)
	}
	if n, err := w.DeliverDue(ctx); err != nil || n != 1 || len(ss.messages()) != 2 {
		t.Fatalf("a revoked invitation was mailed (%d, %v, %d mails)", n, err, len(ss.messages()))
	}
	pending, _ := db.Invitations(ctx, org.ID, true)
	if len(pending) != 0 {
		t.Fatalf("pending: %+v", pending)
	}
}

func TestWithoutSMTPTheLogSaysTheMailWasNotSentAndNeverCarriesTheLink(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, org, ss, w := setup(t)
	var logs bytes.Buffer
	w.Sender = nil // serve without --smtp-url
	w.Log = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	inv, err := db.CreateInvitation(ctx, admin, org.ID, "dora@example.com", false, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := w.DeliverDue(ctx); err != nil || n != 1 {
		t.Fatalf("delivered %d, %v", n, err)
	}
	out := logs.String()
	for _, want := range []string{"invitation mail not sent", `"invitation":"` + inv.ID + `"`, `"to_domain":"example.com"`,
		"scimbridge invite link --org acme " + inv.ID} {
		if !strings.Contains(out, want) {
			t.Errorf("the log lacks %q:\n%s", want, out)
		}
	}
	for _, never := range []string{"scb_inv_", "token=", "/invite/accept", "dora@"} {
		if strings.Contains(out, never) {
			t.Errorf("the log carries %q:\n%s", never, out)
		}
	}
	if len(ss.messages()) != 0 {
		t.Fatalf("a mail went out without a sender: %q", ss.messages())
	}
	// The operator's way to the link: it works, once.
	_, secret, err := db.InvitationLink(ctx, admin, org.ID, "Dora@Example.com")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.AcceptInvitation(ctx, secret, directory.Login{Email: "dora@example.com", EmailVerified: true}); err != nil {
		t.Fatalf("accept with the printed link: %v", err)
	}
}

func TestALinkFromTheCLIReplacesEarlierLinksAndTheQueuedMail(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, org, ss, w := setup(t)
	login := directory.Login{Email: "eli@example.com", EmailVerified: true}
	inv, err := db.CreateInvitation(ctx, admin, org.ID, "eli@example.com", false, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.DeliverDue(ctx); err != nil || len(ss.messages()) != 1 {
		t.Fatalf("first mail: %v, %d mails", err, len(ss.messages()))
	}
	mailed := tokenRE.FindStringSubmatch(ss.messages()[0])[1]
	// A resend is queued; the link printed meanwhile drops it, since its
	// mail would replace the printed link.
	if err := db.ResendInvitation(ctx, admin, org.ID, inv.ID); err != nil {
		t.Fatal(err)
	}
	_, printed, err := db.InvitationLink(ctx, admin, org.ID, inv.ID)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := w.DeliverDue(ctx); err != nil || n != 0 || len(ss.messages()) != 1 {
		t.Fatalf("the queued resend went out after the link was printed (%d, %v, %d mails)", n, err, len(ss.messages()))
	}
	if _, _, err := db.AcceptInvitation(ctx, mailed, login); !errors.Is(err, directory.ErrUnauthorized) {
		t.Fatalf("the mailed link after a printed one: %v, want ErrUnauthorized", err)
	}
	if _, _, err := db.AcceptInvitation(ctx, printed, login); err != nil {
		t.Fatalf("the printed link: %v", err)
	}
	// Accepted: no more links.
	if _, _, err := db.InvitationLink(ctx, admin, org.ID, inv.ID); !errors.Is(err, directory.ErrConflict) {
		t.Fatalf("a link for an accepted invitation: %v, want ErrConflict", err)
	}
	if _, _, err := db.InvitationLink(ctx, admin, org.ID, "nobody@example.com"); !errors.Is(err, directory.ErrNotFound) {
		t.Fatalf("a link for an address never invited: %v, want ErrNotFound", err)
	}
}

func TestParseSMTP(t *testing.T) {
	t.Parallel()
	type settings = mail.SMTPSettings
	cases := []struct {
		raw  string
		want settings // zero: an error
	}{
		{"smtp://mail.example.com", settings{Host: "mail.example.com", Port: 587, TLS: "TLSMandatory"}},
		// Mandatory TLS never means port 25 (where servers offer no STARTTLS).
		{"smtp://mail.example.com?tls=mandatory", settings{Host: "mail.example.com", Port: 587, TLS: "TLSMandatory"}},
		{"smtp://u:p%40ss@mail.example.com:2525?tls=mandatory", settings{Host: "mail.example.com", Port: 2525, TLS: "TLSMandatory", Username: "u", Password: "p@ss"}},
		{"smtp://mail.example.com:465?tls=Opportunistic", settings{Host: "mail.example.com", Port: 465, TLS: "TLSOpportunistic"}},
		{"smtp://relay@mail.example.com?tls=NONE", settings{Host: "mail.example.com", Port: 587, TLS: "NoTLS", Username: "relay"}},
		// On this machine, TLS is opportunistic unless asked for.
		{"smtp://localhost", settings{Host: "localhost", Port: 587, TLS: "TLSOpportunistic"}},
		{"smtp://127.0.0.1:25?tls=none", settings{Host: "127.0.0.1", Port: 25, TLS: "NoTLS"}},
		{"smtp://[::1]:2525", settings{Host: "::1", Port: 2525, TLS: "TLSOpportunistic"}},
		{"smtp://localhost?tls=mandatory", settings{Host: "localhost", Port: 587, TLS: "TLSMandatory"}},
		{"http://mail.example.com", settings{}},
		{"smtp://", settings{}},
		{"smtp://u:p@", settings{}},
		{"smtp://mail.example.com?tls=maybe", settings{}},
		{"smtp://mail.example.com:99999", settings{}},
		{"smtp://mail.example.com:0", settings{}},
		{"smtp://u:secret@mail.example.com:smtp", settings{}},
	}
	for _, c := range cases {
		s, err := mail.ParseSMTP(c.raw, "bridge@example.com")
		switch {
		case c.want == settings{}:
			if err == nil {
				t.Errorf("%s: accepted as %+v", c.raw, s.Settings())
			} else if strings.Contains(err.Error(), "secret") || strings.Contains(err.Error(), ":p@") {
				t.Errorf("%s: the error echoes the password: %v", c.raw, err)
			}
		case err != nil:
			t.Errorf("%s: %v", c.raw, err)
		case s.Settings() != c.want:
			t.Errorf("%s: %+v, want %+v", c.raw, s.Settings(), c.want)
		}
	}
	if _, err := mail.ParseSMTP("smtp://mail.example.com", "not an address"); err == nil {
		t.Error("bad from accepted")
	}
}
