#!/usr/bin/env bash
# footprint.sh: the sidecar's own footprint (RSS, CPU) reading each kind of
# server, as docs/benchmarks.md reports it. Each server is hack/replay
# serving a recorded reply of sidecar/testdata on loopback, so only the
# sidecar's cost is measured; the four sidecars run at once, each its own
# process, publishing to one nats-server.
#
#   hack/footprint.sh SIDECAR-COMMAND SECONDS
#   e.g. hack/footprint.sh bin/rtcscale-sidecar 600
#        hack/footprint.sh "bin/rtcscale sidecar" 600
set -euo pipefail
cmd=$1
seconds=${2:-600}
interval=${INTERVAL:-2s}
warmup=20
tmp=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$tmp"' EXIT

go build -o "$tmp/replay" ./hack/replay
go build -o "$tmp/nats-server" github.com/nats-io/nats-server/v2
"$tmp/nats-server" -a 127.0.0.1 -p 14222 >"$tmp/nats.log" 2>&1 &
pids+=($!)

declare -A reply=([asterisk]=asterisk-metrics.txt [jvb]=jvb-colibri-stats.json
	[kamailio]=kamailio-stats-fetch.json [rtpengine]=rtpengine-metrics-busy.txt)
declare -A path=([asterisk]=/metrics [jvb]=/colibri/stats [kamailio]=/RPC [rtpengine]=/metrics)
# The sidecar binary serves an HTTP port (rtcscale before it did not): give
# each its own.
ops=()
if $cmd --help 2>&1 | grep -q -- --metrics-bind-address; then ops=(--metrics-bind-address); fi
declare -A sidecar
port=18081
for kind in asterisk jvb kamailio rtpengine; do
	"$tmp/replay" --addr "127.0.0.1:$port" "sidecar/testdata/${reply[$kind]}" &
	pids+=($!)
	POD_NAME="$kind-0" POD_NAMESPACE=bench $cmd --source "$kind" --url "http://127.0.0.1:$port${path[$kind]}" \
		--interval "$interval" --nats-url nats://127.0.0.1:14222 ${ops[@]:+"${ops[@]}" "127.0.0.1:$((port + 100))"} 2>"$tmp/$kind.log" &
	sidecar[$kind]=$!
	pids+=($!)
	port=$((port + 1))
done

# Prometheus scrapes the sidecar's self-metrics, every 15 s as a
# ServiceMonitor's default would; that is part of its cost.
if ((${#ops[@]})); then
	(while sleep 15; do for p in 18181 18182 18183 18184; do curl -fsS -o /dev/null "http://127.0.0.1:$p/metrics"; done; done) &
	pids+=($!)
fi

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
sleep "$warmup"
declare -A start
for kind in "${!sidecar[@]}"; do start[$kind]=$(ticks "${sidecar[$kind]}"); done
sleep "$seconds"
hz=$(getconf CLK_TCK)
printf '%-10s %12s %12s %14s\n' source RSS-MiB peak-MiB millicores
for kind in asterisk jvb kamailio rtpengine; do
	p=${sidecar[$kind]}
	rss=$(awk '/^VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$p/status")
	hwm=$(awk '/^VmHWM/ {printf "%.1f", $2 / 1024}' "/proc/$p/status")
	used=$(( $(ticks "$p") - start[$kind] ))
	mc=$(awk -v t="$used" -v hz="$hz" -v s="$seconds" 'BEGIN {printf "%.2f", 1000 * t / hz / s}')
	printf '%-10s %12s %12s %14s\n' "$kind" "$rss" "$hwm" "$mc"
	if grep -q . "$tmp/$kind.log"; then sed 's/^/    /' "$tmp/$kind.log" | tail -3; fi
done
