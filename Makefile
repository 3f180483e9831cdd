# rtcscale: make build | test | lint | demo | image | e2e | helm-render
# Everything downloaded (helm) goes to .cache/, built binaries to bin/,
# rendered manifests to _output/; all three are git-ignored.

GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
IMAGE    ?= ghcr.io/rtcscale/rtcscale:$(VERSION)
SIDECAR_IMAGE ?= ghcr.io/rtcscale/rtcscale-sidecar:$(VERSION)
BIN      := bin/rtcscale
SIDECAR_BIN := bin/rtcscale-sidecar
HELM_VERSION := v4.3.1
HELM     := .cache/bin/helm
CHART    := deploy/helm/rtcscale
KUSTOMIZE ?= kubectl kustomize

.PHONY: all build test lint demo image e2e helm-render clean

all: lint test build

## build: the static rtcscale and rtcscale-sidecar binaries in bin/
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w -X main.version=$(VERSION)" -o $(BIN) ./cmd/rtcscale
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w -X main.version=$(VERSION)" -o $(SIDECAR_BIN) ./cmd/rtcscale-sidecar

## test: unit tests, the chart and kustomize checks, and the dashboards
## against Prometheus (skipped without /usr/bin/prometheus: apt-get install prometheus)
test:
	$(GO) test ./...

## lint: gofmt, go vet, and duplicated code against main
lint:
	@out="$$(gofmt -l $$(git ls-files '*.go'))"; \
	if [ -n "$$out" ]; then echo "gofmt -w these files:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	@if command -v duplicates >/dev/null; then duplicates --change --base main; fi

## demo: embedded NATS, a simulated fleet and the metrics APIs on localhost
demo: build
	$(BIN) demo

## image: the container images, the adapter's and the sidecar's (Dockerfile:
## static binaries on distroless, non-root)
image:
	docker build --build-arg VERSION=$(VERSION) -t $(IMAGE) .
	docker build --build-arg VERSION=$(VERSION) --target sidecar -t $(SIDECAR_IMAGE) .

## e2e: the end-to-end suite against a real etcd, kube-apiserver and
## kube-controller-manager on loopback (see docs/e2e.md)
e2e:
	$(GO) run ./e2e/cmd/controlplane -build-only
	$(GO) test -count=1 -timeout 30m ./e2e/...

$(HELM):
	GOBIN=$(CURDIR)/.cache/bin $(GO) install helm.sh/helm/v4/cmd/helm@$(HELM_VERSION)

## helm-render: lint the chart, render it with the default and with every
## option, and build the kustomize overlays, into _output/
helm-render: $(HELM)
	@mkdir -p _output
	$(HELM) lint $(CHART)
	$(HELM) lint $(CHART) -f $(CHART)/ci/all-options-values.yaml
	$(HELM) template rtcscale $(CHART) --namespace rtcscale > _output/helm-default.yaml
	$(HELM) template rtcscale $(CHART) --namespace rtcscale -f $(CHART)/ci/all-options-values.yaml > _output/helm-all-options.yaml
	@for o in cert-manager keda; do \
		echo "$(KUSTOMIZE) deploy/kustomize/overlays/$$o > _output/kustomize-$$o.yaml"; \
		$(KUSTOMIZE) deploy/kustomize/overlays/$$o > _output/kustomize-$$o.yaml || exit 1; \
	done

clean:
	rm -rf bin _output
