package main

import (
	"log/slog"

	"github.com/scimbridge/scimbridge/internal/httpserver"
	"github.com/scimbridge/scimbridge/internal/postgres"
)

// mountAdapters mounts the protocol adapters on the server.
func mountAdapters(hs *httpserver.Server, db *database, usage *postgres.TokenUsage, cfg serveConfig, log *slog.Logger) {
}
