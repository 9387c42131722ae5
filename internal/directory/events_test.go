package directory_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/scimbridge/scimbridge/internal/directory"
)

func TestParseCursorReadsOnlyCursorsTheFeedGaveOut(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"", 0, true},
		{directory.FeedCursor(0), 0, true},
		{directory.FeedCursor(42), 42, true},
		{directory.FeedCursor(1<<62 + 5), 1<<62 + 5, true},
		{"42", 0, false},
		{"c1_", 0, false},
		{"c1_-1", 0, false},
		{"c1_+1", 0, false},
		{"c1_007", 0, false},
		{"c1_1e3", 0, false},
		{"c1_99999999999999999999", 0, false},
		{"c2_1", 0, false},
		{"C1_1", 0, false},
	}
	for _, tt := range tests {
		got, err := directory.ParseCursor(tt.in)
		if tt.ok != (err == nil) || got != tt.want {
			t.Errorf("ParseCursor(%q) = %d, %v; want %d ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
		if err != nil && !errors.Is(err, directory.ErrInvalid) {
			t.Errorf("ParseCursor(%q): %v is not ErrInvalid", tt.in, err)
		}
	}
}

func TestParseEventTypes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{"", "[]", true},
		{"user.created", "[user.created]", true},
		{"user.created,user.created", "[user.created]", true},
		{"group.member_added, role.*", "[group.member_added role.granted role.revoked]", true},
		{"user.*", "[user.created user.updated user.deactivated user.reactivated user.removed]", true},
		{"user.create", "", false},
		{"*", "", false},
		{"user.", "", false},
		{"User.created", "", false},
		{strings.Repeat("user.created,", directory.MaxEventTypeFilter) + "user.created", "", false},
	}
	for _, tt := range tests {
		got, err := directory.ParseEventTypes(tt.in)
		if tt.ok != (err == nil) {
			t.Errorf("ParseEventTypes(%q): %v", tt.in, err)
			continue
		}
		if tt.ok && strings.Join(got, " ") != strings.Trim(tt.want, "[]") {
			t.Errorf("ParseEventTypes(%q) = %v, want %s", tt.in, got, tt.want)
		}
	}
}

func TestEventRendersOneShapeForFeedAndWebhooks(t *testing.T) {
	t.Parallel()
	e := directory.Event{
		Seq: 7, Type: directory.EventUserDeactivated, OrgID: "o-1",
		OccurredAt: time.Date(2026, 12, 8, 1, 2, 3, 0, time.FixedZone("x", 3600)),
		Actor:      directory.Actor{Kind: "scim-token", Name: "okta"}, ResourceType: "user", ResourceID: "u-1",
		Data: json.RawMessage(`{"id":"u-1","active":false}`),
	}
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"id":"evt_7","cursor":"c1_7","type":"user.deactivated","organizationId":"o-1","occurredAt":"2026-12-08T00:02:03Z",` +
		`"actor":{"kind":"scim-token","name":"okta"},"resourceType":"user","resourceId":"u-1","data":{"id":"u-1","active":false}}`
	if string(b) != want {
		t.Fatalf("got  %s\nwant %s", b, want)
	}
}
