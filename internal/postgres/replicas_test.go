package postgres_test

import (
	"context"
	"testing"

	"github.com/scimbridge/scimbridge/internal/pgtest"
)

func TestHeartbeatCountsLiveReplicas(t *testing.T) {
	t.Parallel()
	db := pgtest.DB(t)
	ctx := context.Background()
	a, b, c := "00000000-0000-0000-0000-00000000000a", "00000000-0000-0000-0000-00000000000b", "00000000-0000-0000-0000-00000000000c"
	steps := []struct {
		name string
		beat string
		prep string // SQL run before the heartbeat
		want int
	}{
		{"alone", a, "", 1},
		{"a second replica", b, "", 2},
		{"again: still two", a, "", 2},
		{"a third, silent too long, does not count", a,
			"INSERT INTO replicas (id, seen_at) VALUES ('" + c + "', now() - interval '1 minute')", 2},
		{"one that crashed long ago is forgotten", a, "UPDATE replicas SET seen_at = now() - interval '10 minutes' WHERE id = '" + c + "'", 2},
	}
	for _, s := range steps {
		if s.prep != "" {
			if _, err := db.Pool.Exec(ctx, s.prep); err != nil {
				t.Fatal(err)
			}
		}
		n, err := db.Heartbeat(ctx, s.beat)
		if err != nil || n != s.want {
			t.Fatalf("%s: %d %v, want %d", s.name, n, err, s.want)
		}
	}
	var rows int
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM replicas`).Scan(&rows); err != nil || rows != 2 {
		t.Fatalf("rows %d %v, want 2 (the long-silent one deleted)", rows, err)
	}
	if err := db.RemoveReplica(ctx, b); err != nil {
		t.Fatal(err)
	}
	if n, _ := db.Heartbeat(ctx, a); n != 1 {
		t.Fatalf("after b stopped: %d", n)
	}
}
