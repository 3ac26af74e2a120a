#!/bin/sh
# The image's entry point (/usr/local/bin/wavecom): the first argument picks the process.
# exec, so Python is PID 1 and SIGTERM reaches it directly (the API and the workers drain on
# SIGTERM within SHUTDOWN_GRACE_S)
set -eu
cmd=${1:-api}
[ $# -gt 0 ] && shift
case "$cmd" in
  api) exec python -m wavecom.api "$@" ;;
  worker) exec python -m wavecom.worker "$@" ;;
  operator) exec python -m wavecom.operator "$@" ;;
  callbacks) exec python -m wavecom.callbacks "$@" ;;
  admin) exec python -m wavecom.admin "$@" ;;
  *) exec "$cmd" "$@" ;;
esac
