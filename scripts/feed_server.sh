#!/usr/bin/env bash
# Start or stop the demo feed server (every demo feed over HTTP on 127.0.0.1: OpenAQ, GTFS, GBFS,
# SDMX, EEA). FEEDS_RATE_LIMIT_EVERY (default 50) and FEEDS_FLAKY (default /sdmx/, empty for none)
# set its 429 and flaky-endpoint behaviour; the log is $CITYPEERS_HOME/feed_server.log.
set -euo pipefail
cd "$(dirname "$0")/.."
home="${CITYPEERS_HOME:-$PWD/var}"
pidfile="$home/feed_server.pid"
case "${1:-}" in
  start)
    port="${2:-8765}"
    if [[ -f "$pidfile" ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
      echo "demo feed server already running (pid $(cat "$pidfile"))"; exit 0
    fi
    mkdir -p "$home"
    options=(--port "$port" --rate-limit-every "${FEEDS_RATE_LIMIT_EVERY:-50}")
    flaky="${FEEDS_FLAKY-/sdmx/}"
    if [[ -n "$flaky" ]]; then options+=(--flaky "$flaky"); fi
    nohup .venv/bin/citypeers feeds-serve "${options[@]}" >"$home/feed_server.log" 2>&1 &
    echo $! >"$pidfile"
    for _ in $(seq 1 50); do
      if curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1; then
        echo "demo feed server on http://127.0.0.1:$port (pid $(cat "$pidfile"), log $home/feed_server.log)"; exit 0
      fi
      sleep 0.2
    done
    echo "demo feed server did not answer; log: $home/feed_server.log" >&2
    tail -20 "$home/feed_server.log" >&2; exit 1 ;;
  stop)
    # openaq_server.pid: a server started by the former scripts/openaq.sh
    for file in "$pidfile" "$home/openaq_server.pid"; do
      if [[ -f "$file" ]]; then kill "$(cat "$file")" 2>/dev/null || true; rm -f "$file"; fi
    done ;;
  *) echo "usage: $0 start [port] | stop" >&2; exit 2 ;;
esac
