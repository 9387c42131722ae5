# Multi-stage build: a static binary on a minimal, non-root runtime image.
# The builder is the Go release go.mod's toolchain line names.
FROM golang:1.26.11 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/scimbridge ./cmd/scimbridge

# distroless/static: no shell, no package manager, CA certificates and
# tzdata only. No HEALTHCHECK: Kubernetes probes /healthz and /readyz
# (deploy/helm/scimbridge).
FROM gcr.io/distroless/static-debian12:nonroot
# Set by the build (docker build --build-arg VERSION=… REVISION=$(git rev-parse HEAD) CREATED=$(date -u +%FT%TZ)).
ARG VERSION=dev
ARG REVISION=unknown
ARG CREATED=unknown
# OCI annotations, read by registries and SBOM tools (the binary carries
# its Go module list too: go version -m).
LABEL org.opencontainers.image.title="scimbridge" \
      org.opencontainers.image.description="SCIM 2.0 provisioning for Okta and Entra ID, OIDC sign-in, roles and Git identities, on PostgreSQL" \
      org.opencontainers.image.source="https://github.com/scimbridge/scimbridge" \
      org.opencontainers.image.documentation="https://github.com/scimbridge/scimbridge/blob/main/docs/operations.md" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.base.name="gcr.io/distroless/static-debian12:nonroot"
COPY --from=build /out/scimbridge /usr/local/bin/scimbridge
# The image has no PostgreSQL: DATABASE_URL must name one.
ENV SCIMBRIDGE_REQUIRE_DATABASE_URL=true \
    SCIMBRIDGE_ADDR=0.0.0.0:8080 \
    SCIMBRIDGE_LOG_FORMAT=json
# distroless' nonroot user, by number, so that Kubernetes' runAsNonRoot
# can verify it without a runAsUser.
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/scimbridge"]
CMD ["serve"]
