package directory

import (
	"errors"
	"testing"
	"time"
)

func TestTokenTTLDefaultsAndBounds(t *testing.T) {
	t.Parallel()
	const day = 24 * time.Hour
	cases := []struct {
		name     string
		ttl, max time.Duration
		want     time.Duration
		ok       bool
	}{
		{"none asked: 90 days", 0, 0, 90 * day, true},
		{"none asked under a shorter maximum: the maximum", 0, 30 * day, 30 * day, true},
		{"asked, within the default maximum", 12 * time.Hour, 0, 12 * time.Hour, true},
		{"exactly the maximum", 365 * day, 0, 365 * day, true},
		{"above the default maximum", 366 * day, 0, 0, false},
		{"above a configured maximum", 31 * day, 30 * day, 0, false},
		{"negative", -time.Hour, 0, 0, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := TokenTTL(c.ttl, c.max)
			if got != c.want || (err == nil) != c.ok {
				t.Fatalf("TokenTTL(%v, %v) = %v, %v; want %v, ok=%v", c.ttl, c.max, got, err, c.want, c.ok)
			}
			if err != nil && !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v is not ErrInvalid", err)
			}
		})
	}
}

func TestCheckAPITokenOwner(t *testing.T) {
	t.Parallel()
	admin := User{ID: "a", UserName: "admin", Kind: KindHuman, Source: SourceSCIM}
	cases := []struct {
		name          string
		caller, owner User
		ok            bool
	}{
		{"oneself", admin, admin, true},
		{"a service account", admin, User{ID: "s", UserName: "ci", Kind: KindService, Source: SourceService}, true},
		{"another person", admin, User{ID: "b", UserName: "bob", Kind: KindHuman, Source: SourceSCIM}, false},
		{"the break-glass owner", admin, User{ID: "o", UserName: "break-glass-owner", Kind: KindHuman, Source: SourceBreakGlass}, false},
		{"the break-glass owner for itself", User{ID: "o", Kind: KindHuman, Source: SourceBreakGlass}, User{ID: "o", Kind: KindHuman, Source: SourceBreakGlass}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := CheckAPITokenOwner(c.caller, c.owner)
			if (err == nil) != c.ok || (err != nil && !errors.Is(err, ErrForbidden)) {
				t.Fatalf("err = %v, want ok=%v (else ErrForbidden)", err, c.ok)
			}
		})
	}
}
