#!/usr/bin/env bash
# Deploy a release with a hot restart: point the `current` symlink at the new
# release, then `grace reload`, which exits 0 only once the new code serves.
# If the reload fails, `current` is switched back to the release it named
# before, so that the next restart runs the code that is serving now.
#
#   APP_ROOT=/srv/app example/deploy.sh /srv/app/releases/2026-11-23T0612
#
# The app must be started through the symlink (node /srv/app/current/server.js),
# from a directory that outlives releases (/srv/app), so that each new
# generation, started with the same argv and cwd, runs the new code. Each
# release has its own node_modules with grace-restart installed (npm ci).
#
# Exit status: 0 deployed; 1 the new release did not come up (or the reload
# failed otherwise), `current` was switched back; 2 usage, or grace cannot run
# in the release, nothing was switched; 3 the reload could not be sent (no live
# app in the pid file: nothing was switched; the pid file was refused:
# `current` was switched back).
set -euo pipefail

if [[ $# -ne 1 || ! -d $1 ]]; then
  echo "usage: deploy.sh RELEASE_DIR (an existing directory; APP_ROOT and PID_FILE from the environment)" >&2
  exit 2
fi
release=$(cd "$1" && pwd)
app_root=${APP_ROOT:-/srv/app}
pid_file=${PID_FILE:-$app_root/app.pid}

# Before switching anything: the release can run grace (the `grace` that
# `npx grace` runs there), and there is an app to reload.
if ! grace=$(cd "$release" && npx --no-install -c 'command -v grace' 2>/dev/null) || ! "$grace" --help >/dev/null 2>&1; then
  echo "deploy: cannot run grace in $release (npx --no-install finds no working grace there): install the release's dependencies there (npm ci); nothing was switched" >&2
  exit 2
fi
pid=$(head -n 1 "$pid_file" 2>/dev/null || true)
if [[ ! $pid =~ ^[0-9]+$ ]] || ! kill -0 "$pid" 2>/dev/null; then
  echo "deploy: cannot send the reload: $pid_file does not name a running app${pid:+ (pid $pid)}; nothing was switched" >&2
  exit 3
fi
previous=$(readlink "$app_root/current" || true)

# Atomic switch: a new symlink beside the old, renamed over it.
switch_to() {
  ln -sfn "$1" "$app_root/current.next"
  mv -T "$app_root/current.next" "$app_root/current"
}
switch_to "$release"

# grace reload says why it failed; its message tells a reload that was never
# sent (the pid file was refused, a restart was already running) from a new
# release that did not come up (the old generation "is still serving").
if out=$("$grace" reload --pid-file "$pid_file" --timeout 60000 2>&1); then
  echo "$out"
  echo "deploy: $release is serving"
  exit 0
fi
echo "$out" >&2
if [[ -n $previous ]]; then
  switch_to "$previous"
  back="switched current back to $previous"
else
  back="current still points at $release: there was no previous release to switch back to"
fi
case $out in
  *"is still serving"*)
    echo "deploy: the new release did not come up; the previous one is still serving; $back" >&2
    exit 1 ;;
  *"pid file"* | *"already in progress"* | *"restart turned off"* | *"cannot send"*)
    echo "deploy: could not send the reload; $back" >&2
    exit 3 ;;
  *)
    echo "deploy: the reload failed (see above); $back" >&2
    exit 1 ;;
esac
