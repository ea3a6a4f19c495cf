#!/bin/sh
# Rebuild build/bundle.js from source and fail if it differs from the committed one.
#
#   examples/static_react_task/webapp/check-bundle.sh
#
# .ci/check-bundle.sh for this folder: npm ci in frontend/ (the crowdsite-task
# package) and here, npm run build, compare with the committed bundle.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
exec sh "$here/../../../.ci/check-bundle.sh" "$here"
