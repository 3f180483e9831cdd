#!/usr/bin/env bash
# Runs rtcscale's whole test suite: unit and integration tests (with the race
# detector), the end-to-end tests against a real Kubernetes control plane,
# Kamailio and sipp, Prometheus and headless Chromium, then every fuzz target
# for a bounded time. Installs the Debian packages those tests drive when
# they are missing (as root), so it runs the same on a new machine and in CI.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the tests drive: real servers, not mocks.
#   kamailio + kamailio-extra-modules: the SIP proxy the sidecar reads (JSON-RPC)
#   sip-tester: sipp, which places the calls
#   rtpengine-daemon: the media relay the sidecar reads, run in userspace
#   prometheus: evaluates the dashboards' queries
#   chromium: renders the what-if HTML report
need=()
command -v kamailio >/dev/null || need+=(kamailio kamailio-extra-modules)
command -v sipp >/dev/null || need+=(sip-tester)
command -v rtpengine >/dev/null || need+=(rtpengine-daemon)
command -v prometheus >/dev/null || need+=(prometheus)
command -v chromium >/dev/null || need+=(chromium)
if ((${#need[@]})); then
  if [ "$(id -u)" = 0 ]; then
    echo "== installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  else
    echo "== not root: tests that need ${need[*]} will skip"
  fi
fi

echo "== gofmt, go vet (at ${SECONDS}s)"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change: $unformatted" >&2
  exit 1
fi
go vet ./...

# The e2e tests run a Kubernetes control plane (e2e/tools) and KEDA
# (e2e/tools/keda) built from source. Build them first, or find them in
# $RTCSCALE_E2E_CACHE, so that a first run's build does not count against go
# test's -timeout.
if [ "${RTCSCALE_E2E:-}" != 0 ]; then
  echo "== e2e control plane and KEDA binaries, built once, then cached (at ${SECONDS}s)"
  go run ./e2e/cmd/controlplane -build-only
fi

echo "== go test -race ./... (at ${SECONDS}s)"
go test -race -count=1 -timeout 60m ./...

# Fuzz every target for a bounded number of executions; a crasher fails the
# run and leaves its input under testdata/fuzz for the regression suite.
# A count, not a duration: go1.26's fuzz coordinator can report its own
# -fuzztime deadline as a failure ("context deadline exceeded", no crasher;
# golang/go#75804, fixed in go1.27), which a count never arms.
fuzztime=${FUZZTIME:-20000x}
echo "== fuzzing each target for -fuzztime $fuzztime (at ${SECONDS}s)"
for pkg in $(go list ./...); do
  for target in $(go test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true); do
    echo "-- $pkg $target"
    go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg"
  done
done
echo "== all tests passed (${SECONDS}s in all)"
