package directory

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// These tests pin the edges of the rules in this package: each case sits
// on one side of a bound (the first or last value accepted, the first
// refused), where mutation testing found that moving the bound by one
// went unnoticed.

func TestRoleStringNamesEveryRoleAndOnlyThose(t *testing.T) {
	t.Parallel()
	cases := []struct {
		r    Role
		want string
	}{
		{RoleNone, "none"},
		{RoleViewer, "viewer"},
		{RoleOrgAdmin, "org-admin"},
		{Role(-1), "role(-1)"},
		{RoleOrgAdmin + 1, "role(6)"},
	}
	for _, c := range cases {
		if got := c.r.String(); got != c.want {
			t.Errorf("Role(%d).String() = %q, want %q", int(c.r), got, c.want)
		}
	}
}

func TestEffectiveListsGrantsOfEqualRoleInBindingOrder(t *testing.T) {
	t.Parallel()
	bindings := []Binding{
		{ID: "b1", Role: RoleViewer, WorkspaceID: "w", UserID: "u"},
		{ID: "b2", Role: RoleEditor, WorkspaceID: "w", UserID: "u"},
		{ID: "b3", Role: RoleViewer, WorkspaceID: "w", UserID: "u"},
		{ID: "b4", Role: RoleViewer, WorkspaceID: "w", UserID: "u"},
	}
	w := Effective("u", nil, bindings).Workspaces["w"]
	var got []string
	for _, g := range w.Grants {
		got = append(got, g.BindingID)
	}
	if strings.Join(got, ",") != "b2,b1,b3,b4" || w.Role != RoleEditor {
		t.Fatalf("grants %v, role %v; want the highest first, then equal roles in binding order: b2,b1,b3,b4, editor", got, w.Role)
	}
}

func TestTokenNameLengthBound(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		ok   bool
	}{
		{"", false},
		{"a", true},
		{strings.Repeat("a", 100), true},
		{strings.Repeat("a", 101), false},
		{" a", false},
		{"a\x7f", false},
		{"a\x1f", false},
		{"a b", true},
	}
	for _, c := range cases {
		if err := ValidateTokenName(c.name); (err == nil) != c.ok {
			t.Errorf("ValidateTokenName(%d bytes %q) = %v, want ok=%v", len(c.name), c.name, err, c.ok)
		}
	}
}

func TestParseTTLBounds(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in   string
		want time.Duration // 0: refused
	}{
		{"36500d", 36500 * 24 * time.Hour},
		{"36501d", 0},
		{"1ns", time.Nanosecond},
		{"0s", 0},
		{"0h", 0},
	}
	for _, c := range cases {
		got, err := ParseTTL(c.in)
		if got != c.want || (err == nil) != (c.want != 0) {
			t.Errorf("ParseTTL(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseTTL(%q): %v is not ErrInvalid", c.in, err)
		}
	}
}

func TestFormatTTLWritesWhatParseTTLReads(t *testing.T) {
	t.Parallel()
	cases := []struct {
		d    time.Duration
		want string
	}{
		{90 * 24 * time.Hour, "90d"},
		{24 * time.Hour, "1d"},
		{36 * time.Hour, "36h0m0s"},
		{0, "0s"},
		{-24 * time.Hour, "-24h0m0s"},
	}
	for _, c := range cases {
		got := FormatTTL(c.d)
		if got != c.want {
			t.Errorf("FormatTTL(%v) = %q, want %q", c.d, got, c.want)
		}
		if c.d > 0 {
			if back, err := ParseTTL(got); err != nil || back != c.d {
				t.Errorf("ParseTTL(FormatTTL(%v)) = %v, %v", c.d, back, err)
			}
		}
	}
}

func TestFoldASCIIFoldsExactlyAToZ(t *testing.T) {
	t.Parallel()
	cases := []struct{ in, want string }{
		{"A", "a"},
		{"Z", "z"},
		{"xA", "xa"},
		{"xZ", "xz"},
		{"@[`{", "@[`{"},
		{"aZ@AZ[", "az@az["},
		{"\u212Aate", "\u212Aate"}, // the Kelvin sign is not K
	}
	for _, c := range cases {
		if got := FoldASCII(c.in); got != c.want {
			t.Errorf("FoldASCII(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestGitHubNoreplyLoginAcceptsEveryLoginCharacterAtItsEdges(t *testing.T) {
	t.Parallel()
	cases := []struct {
		email, login string // login "": not a noreply address
	}{
		{"a@users.noreply.github.com", "a"},
		{"z@users.noreply.github.com", "z"},
		{"A@users.noreply.github.com", "A"},
		{"Z@users.noreply.github.com", "Z"},
		{"0@users.noreply.github.com", "0"},
		{"9@users.noreply.github.com", "9"},
		{"1+a-b@users.noreply.github.com", "a-b"},
		{"app[bot]@users.noreply.github.com", "app[bot]"},
		{strings.Repeat("a", 39) + "@users.noreply.github.com", strings.Repeat("a", 39)},
		{strings.Repeat("a", 40) + "@users.noreply.github.com", ""},
		{"`@users.noreply.github.com", ""},
		{"{@users.noreply.github.com", ""},
		{"[@users.noreply.github.com", ""},
		{"/@users.noreply.github.com", ""},
		{":@users.noreply.github.com", ""},
		{"@users.noreply.github.com", ""},
		{"x1+a@users.noreply.github.com", ""},
	}
	for _, c := range cases {
		got, ok := GitHubNoreplyLogin(c.email)
		if got != c.login || ok != (c.login != "") {
			t.Errorf("GitHubNoreplyLogin(%q) = %q, %v; want %q", c.email, got, ok, c.login)
		}
	}
}

func TestGitObservationRefusesALoginWithSpaces(t *testing.T) {
	t.Parallel()
	base := GitObservation{Provider: "github", Repo: "o/r", SHA: strings.Repeat("a", 40), Role: GitRoleAuthor, Email: "a@b.c"}
	for _, c := range []struct {
		login string
		ok    bool
	}{
		{"bob", true},
		{" bob", false},
		{"b ob", false},
		{"bob ", false},
	} {
		o := base
		o.Login = c.login
		if err := o.Validate(); (err == nil) != c.ok {
			t.Errorf("login %q: Validate() = %v, want ok=%v", c.login, err, c.ok)
		}
	}
}
