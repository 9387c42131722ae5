package main

import (
	"testing"

	"github.com/scimbridge/scimbridge/internal/pgtest"
)

// The raw phase and pg_stat_statements are tested against a real
// PostgreSQL; the cluster starts only when a test asks for it.
func TestMain(m *testing.M) { pgtest.Main(m) }
