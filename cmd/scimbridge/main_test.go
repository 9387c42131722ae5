package main

import (
	"testing"

	"github.com/scimbridge/scimbridge/internal/pgtest"
)

// Tests that run serve against an external server (DATABASE_URL) take a
// database from pgtest's one cluster; the rest start the embedded default
// under a data dir of their own.
func TestMain(m *testing.M) { pgtest.Main(m) }
