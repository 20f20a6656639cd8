# syntax=docker/dockerfile:1
#
# The ioc binary (every role, the simulator and the migration) in one small
# image. Build:   docker build -t sonla-ioc/ioc .    (or: docker compose build)
# Run a role:     docker run --rm sonla-ioc/ioc ingest
# Checked by deploy/compose_test.go (go test ./deploy/).

# ---- build -------------------------------------------------------------
# Go version: major.minor of go.mod's `go` line (the test keeps them equal).
FROM golang:1.26-bookworm AS build
WORKDIR /src
# Modules first, so that a source change does not download them again.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
# Static binary (no cgo: the runtime image has no libc). timetzdata embeds the
# zone database, so Asia/Ho_Chi_Minh resolves whatever the runtime image holds.
ENV CGO_ENABLED=0
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    go build -trimpath -tags timetzdata -ldflags="-s -w" -o /out/ioc ./cmd/ioc
# An invalid container config fails the build, not the deployment.
RUN /out/ioc check-config -config deploy/docker/ioc.yaml >/dev/null

# ---- runtime -----------------------------------------------------------
# distroless static: CA certificates and tzdata, no shell, no package
# manager; runs as uid 65532 (nonroot). Compose health checks therefore call
# the binary itself (`ioc healthcheck`), not curl.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/ioc /usr/local/bin/ioc
COPY deploy/devices.csv /etc/ioc/devices.csv
COPY deploy/docker/ioc.yaml /etc/ioc/ioc.yaml
# The -config flag defaults to $IOC_CONFIG.
ENV IOC_CONFIG=/etc/ioc/ioc.yaml
USER nonroot:nonroot
# dashboard (web + /ws), then the ops ports (/metrics, /healthz, /readyz) of
# run, ingest, stream, dashboard and notify.
EXPOSE 8080 9100 9101 9102 9103 9104
ENTRYPOINT ["/usr/local/bin/ioc"]
CMD ["run"]
