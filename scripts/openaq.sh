#!/usr/bin/env bash
# Start or stop the demo OpenAQ API v3 server (serves the generated demo feed on 127.0.0.1).
set -euo pipefail
cd "$(dirname "$0")/.."
home="${CITYPEERS_HOME:-$PWD/var}"
pidfile="$home/openaq_server.pid"
case "${1:-}" in
  start)
    port="${2:-8765}"
    if [[ -f "$pidfile" ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
      echo "demo OpenAQ server already running (pid $(cat "$pidfile"))"; exit 0
    fi
    mkdir -p "$home"
    nohup .venv/bin/citypeers openaq-serve --port "$port" >"$home/openaq_server.log" 2>&1 &
    echo $! >"$pidfile"
    for _ in $(seq 1 50); do
      if curl -fsS "http://127.0.0.1:$port/v3/locations?limit=1" >/dev/null 2>&1; then
        echo "demo OpenAQ API serving on http://127.0.0.1:$port/v3 (pid $(cat "$pidfile"))"; exit 0
      fi
      sleep 0.2
    done
    echo "demo OpenAQ server did not answer; log: $home/openaq_server.log" >&2
    tail -20 "$home/openaq_server.log" >&2; exit 1 ;;
  stop)
    if [[ -f "$pidfile" ]]; then kill "$(cat "$pidfile")" 2>/dev/null || true; rm -f "$pidfile"; fi ;;
  *) echo "usage: $0 start [port] | stop" >&2; exit 2 ;;
esac
