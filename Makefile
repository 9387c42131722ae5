# The two front-door commands: `make run` and `make test`.
GO ?= go
export PATH := $(PATH):/usr/local/go/bin
# go.mod's toolchain line names the patched Go release to build with; the
# go command fetches it from the module proxy when the local Go is older
# (a machine whose go.env says GOTOOLCHAIN=local would otherwise ignore it).
export GOTOOLCHAIN := auto

.PHONY: run test build vet lint bench vulncheck

# Runs the service on the embedded default (a private PostgreSQL under ./data
# unless DATABASE_URL is set) and prints a SCIM base URL and a fresh token.
run:
	@scripts/ensure-postgres
	$(GO) run ./cmd/scimbridge serve --init-org default

# Runs every test against real PostgreSQL (a throwaway cluster, or
# TEST_DATABASE_URL when set), the console's in a real Chromium.
test:
	@scripts/ensure-postgres
	@scripts/ensure-chromium
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	$(GO) test -count=1 ./...

build:
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/scimbridge ./cmd/scimbridge

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# gofmt, go vet and staticcheck (clean at v0.8.2).
lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

# govulncheck with the vulnerability database from the module proxy.
vulncheck:
	@scripts/govulncheck
