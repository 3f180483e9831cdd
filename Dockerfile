# syntax=docker/dockerfile:1
#
# rtcscale: one static binary on a distroless base, running as non-root.
#   docker build --build-arg VERSION=$(git describe --tags --always) -t ghcr.io/rtcscale/rtcscale:TAG .
# or `make image`. Multi-arch: docker buildx build --platform linux/amd64,linux/arm64 ...

ARG GO_VERSION=1.26

# Build on the builder's own platform and cross-compile: no emulation.
FROM --platform=$BUILDPLATFORM golang:${GO_VERSION}-bookworm AS build
ARG TARGETOS=linux
ARG TARGETARCH=amd64
ARG VERSION=dev
WORKDIR /src
# Modules first, so that a source change does not download them again.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
# CGO off: a static binary that needs no libc in the runtime image.
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/rtcscale ./cmd/rtcscale

# distroless/static: CA certificates, /etc/passwd with nonroot (65532) and
# tzdata; no shell, no package manager.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/rtcscale /rtcscale
# The chart and kustomize base run it as 65532 with a read-only root
# filesystem; the binary writes nothing to disk.
USER 65532:65532
# 6443: metrics APIs (TLS); 9090: self-metrics and probes.
EXPOSE 6443 9090
ENTRYPOINT ["/rtcscale"]
CMD ["adapter"]
