# syntax=docker/dockerfile:1
#
# rtcscale's two images, each one static binary on a distroless base,
# running as non-root:
#   ghcr.io/rtcscale/rtcscale          the adapter (and every other command); the default target
#   ghcr.io/rtcscale/rtcscale-sidecar  the sidecar of each RTC pod: target "sidecar"
#
#   docker build --build-arg VERSION=$(git describe --tags --always) -t ghcr.io/rtcscale/rtcscale:TAG .
#   docker build --build-arg VERSION=$(git describe --tags --always) --target sidecar -t ghcr.io/rtcscale/rtcscale-sidecar:TAG .
# or `make image`. Multi-arch: docker buildx build --platform linux/amd64,linux/arm64 ...

ARG GO_VERSION=1.26

# Build on the builder's own platform and cross-compile: no emulation.
FROM --platform=$BUILDPLATFORM golang:${GO_VERSION}-bookworm AS source
ARG TARGETOS=linux
ARG TARGETARCH=amd64
# CGO off: static binaries that need no libc in the runtime image.
ENV CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH
WORKDIR /src
# Modules first, so that a source change does not download them again.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .

# One build stage per binary, so that each image's build compiles only
# what its binary links.
FROM source AS build-sidecar
ARG VERSION=dev
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/rtcscale-sidecar ./cmd/rtcscale-sidecar

FROM source AS build
ARG VERSION=dev
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/rtcscale ./cmd/rtcscale

# distroless/static: CA certificates, /etc/passwd with nonroot (65532) and
# tzdata; no shell, no package manager. Both binaries write nothing to
# disk, so both run with a read-only root filesystem.
FROM gcr.io/distroless/static-debian12:nonroot AS sidecar
COPY --from=build-sidecar /out/rtcscale-sidecar /rtcscale-sidecar
USER 65532:65532
# 9091: self-metrics, probes and drain requests.
EXPOSE 9091
ENTRYPOINT ["/rtcscale-sidecar"]

# The default target: the adapter's image.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/rtcscale /rtcscale
# The chart and kustomize base run it as 65532 with a read-only root
# filesystem.
USER 65532:65532
# 6443: metrics APIs (TLS); 9090: self-metrics and probes.
EXPOSE 6443 9090
ENTRYPOINT ["/rtcscale"]
CMD ["adapter"]
