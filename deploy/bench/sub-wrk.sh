#!/bin/sh
# Subscription throughput benchmark (issue 4): GET /sub/{token} for a user
# with 10 hosts, measured with wrk on loopback, against a route on the same
# server that returns the same bytes from memory (that route exists only in
# the benchmark server, backend/api/subwrk_test.go). Target: ratio >= 0.50.
#
#   deploy/bench/sub-wrk.sh                # production settings (lookup cache on)
#   OUTPOST_BENCH_WRK_TTL=0 deploy/bench/sub-wrk.sh   # every fetch hits the database
#
# Tunables: OUTPOST_BENCH_WRK_DURATION (5s), OUTPOST_BENCH_WRK_CONNS (32).
# Needs wrk (apt-get install wrk); run it on a quiet machine.
set -eu
cd "$(dirname "$0")/../.."
if ! command -v wrk >/dev/null 2>&1; then
	echo "wrk is not installed (apt-get install wrk)" >&2
	exit 2
fi
OUTPOST_BENCH_WRK=1 exec go test -count=1 -run '^TestSubscriptionWrk$' -v ./backend/api/ 2>&1 |
	grep -E 'wrk /|Requests/sec|Latency|ratio|^(---|ok|FAIL)'
