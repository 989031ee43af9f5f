#!/usr/bin/env bash
# Makes sure a Pushgateway answers on 127.0.0.1:9091 (the demo pushes there), starting the local
# binary in the background if nothing listens yet. Its log goes to /tmp/netmon-pushgateway.log.
set -euo pipefail
ready() { curl -sf -o /dev/null http://127.0.0.1:9091/-/ready; }
ready && exit 0
bin=${NETMON_PUSHGATEWAY_BIN:-$(command -v prometheus-pushgateway || command -v pushgateway || true)}
[ -n "$bin" ] || { echo "ensure-pushgateway: no pushgateway binary (run scripts/ensure-services.sh)" >&2; exit 1; }
nohup "$bin" --web.listen-address=127.0.0.1:9091 >/tmp/netmon-pushgateway.log 2>&1 &
for _ in $(seq 1 50); do ready && exit 0; sleep 0.2; done
echo "ensure-pushgateway: pushgateway did not become ready; see /tmp/netmon-pushgateway.log" >&2
exit 1
