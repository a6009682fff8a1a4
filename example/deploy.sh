#!/usr/bin/env bash
# Deploy a release with a hot restart: point the `current` symlink at the new
# release, then `grace reload`, which exits 0 only once the new code serves.
#
#   example/deploy.sh /srv/app/releases/2026-11-23T0612
#
# The app must be started through the symlink (node /srv/app/current/server.js)
# so that each new generation, started with the same argv, runs the new code.
set -euo pipefail

release=${1:?usage: deploy.sh RELEASE_DIR}
app_root=${APP_ROOT:-/srv/app}
pid_file=${PID_FILE:-$app_root/app.pid}

# Atomic switch: a new symlink beside the old, renamed over it.
ln -sfn "$release" "$app_root/current.next"
mv -T "$app_root/current.next" "$app_root/current"

if ! npx --no-install grace reload --pid-file "$pid_file" --timeout 60000; then
  echo "deploy: the new release did not come up; the previous one is still serving" >&2
  exit 1
fi
