# The two front-door commands: `make run` and `make test`.
GO ?= go
export PATH := $(PATH):/usr/local/go/bin
# go.mod's toolchain line names the patched Go release to build with; the
# go command fetches it from the module proxy when the local Go is older
# (a machine whose go.env says GOTOOLCHAIN=local would otherwise ignore it).
export GOTOOLCHAIN := auto

.PHONY: run test deploy-check build vet lint bench vulncheck fuzz mutate

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
	@$(MAKE) --no-print-directory deploy-check

# What deploy/ ships, checked offline: the Helm chart linted and rendered
# by Helm v4 (built from the Go module proxy, cached after the first run)
# and every object decoded strictly into its Kubernetes type; the
# CloudNativePG example; the Grafana dashboard and the alert rules parsed
# as PromQL, held to a real server's /metrics, and the alerts evaluated by
# Prometheus' engine. deploy/ is a Go module
# of its own, so that the Kubernetes and Prometheus libraries stay out of
# the service's go.mod (and `go test ./...` here does not build them).
deploy-check:
	@scripts/ensure-postgres
	cd deploy && $(GO) vet ./... && $(GO) test -count=1 ./...

build:
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/scimbridge ./cmd/scimbridge

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# gofmt, go vet and staticcheck (clean at v0.8.2).
lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...
	cd deploy && $(GO) vet ./... && $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

# govulncheck with the vulnerability database from the module proxy.
vulncheck:
	@scripts/govulncheck

# Runs each fuzz target for FUZZTIME (default 10s) beyond its seeds, which
# `make test` already runs; FUZZ=regexp picks targets. See docs/testing.md.
fuzz:
	@scripts/ensure-postgres
	GO="$(GO)" FUZZTIME="$(or $(FUZZTIME),10s)" scripts/fuzz '$(or $(FUZZ),.)'

# Mutation testing of the packages where a surviving bug is a security or
# data-loss bug: too slow for CI (minutes per package on two cores, hours
# for internal/postgres), so run it before resolving an issue, on the
# packages it touched or on its diff (MUTATE_DIFF=main), and record the
# figures in docs/testing.md. MUTATE_PKGS picks packages.
GREMLINS = github.com/go-gremlins/gremlins/cmd/gremlins@v0.6.0
MUTATE_PKGS ?= ./scim/normalize ./internal/directory ./scim ./oidc ./internal/postgres
MUTATE_TIMEOUT ?= 10
mutate:
	@scripts/ensure-postgres
	@set -e; for p in $(MUTATE_PKGS); do \
	  echo "== gremlins $$p"; \
	  $(GO) run $(GREMLINS) unleash --workers 1 --timeout-coefficient $(MUTATE_TIMEOUT) \
	    $(if $(MUTATE_DIFF),--diff $(MUTATE_DIFF)) --output-statuses lt $$p; \
	done
