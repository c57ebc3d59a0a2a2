#!/usr/bin/env bash
# Builds the images, starts three wxtoken instances on one Redis with the
# simulator, shows that they serve one token and share a passive refresh,
# and takes everything down again.
set -euo pipefail
cd "$(dirname "$0")"
top=$(git rev-parse --show-toplevel)
eval "$("$top/scripts/build-test-images")" # the Redis image, from Debian's binary
"$top/scripts/build-image" wxtoken-local/wxtoken:dev >/dev/null # the Dockerfile at the top
export WXTOKEN_REDIS_IMAGE
trap 'docker-compose down -t 5 >/dev/null 2>&1' EXIT
docker-compose up -d
auth="Authorization: Bearer demo-client-key-change-me"
for port in 18081 18082 18083; do
  for _ in $(seq 100); do curl -sf "127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
done
tok() { curl -sf -H "$auth" "127.0.0.1:$1/v1/token/shop" | sed 's/.*"access_token":"\([^"]*\)".*/\1/'; }
t1=$(tok 18081); t2=$(tok 18082); t3=$(tok 18083)
echo "instance tokens: ${t1:0:12}… ${t2:0:12}… ${t3:0:12}…"
[ "$t1" = "$t2" ] && [ "$t2" = "$t3" ] || { echo "FAIL: the instances serve different tokens"; exit 1; }
# Every instance reports the token as rejected; upstream (the simulator)
# still accepts it, so the reports are spurious: the token is kept and no
# new one is fetched.
for port in 18081 18082 18083; do
  curl -sf -H "$auth" -X POST "127.0.0.1:$port/v1/token/shop/invalidate" -d "{\"access_token\":\"$t1\"}" >/dev/null &
done
wait
sleep 0.5
n1=$(tok 18081); n2=$(tok 18082); n3=$(tok 18083)
echo "after spurious reports: ${n1:0:12}… ${n2:0:12}… ${n3:0:12}…"
[ "$n1" = "$t1" ] && [ "$n1" = "$n2" ] && [ "$n2" = "$n3" ] || { echo "FAIL: a report of a token upstream accepts replaced it"; exit 1; }
echo "PASS: three instances, one token; reports of a token upstream accepts cost no new token"
