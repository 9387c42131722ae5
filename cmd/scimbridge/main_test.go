package main

import (
	"os"
	"testing"

	"github.com/scimbridge/scimbridge/internal/pgtest"
)

// Tests that run serve against an external server (DATABASE_URL) take a
// database from pgtest's one cluster; the rest start the embedded default
// under a data dir of their own.
//
// With SCIMBRIDGE_TEST_MAIN=1 the test binary is scimbridge itself: main
// runs with the binary's arguments (see startProcess). Fault tests run
// serve that way, as a process of its own that a signal can kill, without
// building the binary first.
func TestMain(m *testing.M) {
	if os.Getenv("SCIMBRIDGE_TEST_MAIN") == "1" {
		main()
		return
	}
	pgtest.Main(m)
}
