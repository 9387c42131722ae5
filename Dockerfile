# Multi-stage build: a static binary on a minimal, non-root runtime image.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/scimbridge ./cmd/scimbridge

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/scimbridge /usr/local/bin/scimbridge
# The image has no PostgreSQL: DATABASE_URL must name one.
ENV SCIMBRIDGE_REQUIRE_DATABASE_URL=true \
    SCIMBRIDGE_ADDR=0.0.0.0:8080 \
    SCIMBRIDGE_LOG_FORMAT=json
USER nonroot:nonroot
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/scimbridge"]
CMD ["serve"]
