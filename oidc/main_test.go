package oidc_test

import (
	"testing"

	"github.com/scimbridge/scimbridge/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }
