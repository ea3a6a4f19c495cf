#!/bin/sh
# Rebuild build/bundle.js from source and fail if it differs from the committed one.
#
#   examples/static_react_task/webapp/check-bundle.sh
#
# Runs `npm ci` in frontend/ (the crowdsite-task package) and here, then
# `npm run build`. The reference is build/bundle.js as committed in HEAD; outside
# a git checkout (or with CHECK_BUNDLE_AGAINST=worktree) it is the file as it was
# before the rebuild. The build is deterministic, so any difference means the
# sources changed without the bundle being rebuilt and committed (or the reverse).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
frontend=$(cd "$here/../../../frontend" && pwd)
bundle=build/bundle.js
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

cd "$here"
reference="the committed $bundle (HEAD)"
if [ "${CHECK_BUNDLE_AGAINST:-head}" != "worktree" ] \
  && git rev-parse --is-inside-work-tree >/dev/null 2>&1 \
  && prefix=$(git rev-parse --show-prefix) \
  && git cat-file -e "HEAD:${prefix}${bundle}" 2>/dev/null; then
  git show "HEAD:${prefix}${bundle}" >"$tmp/reference.js"
elif [ -f "$bundle" ]; then
  reference="$bundle as it was before the rebuild"
  cp "$bundle" "$tmp/reference.js"
else
  echo "check-bundle: there is no $bundle to compare with" >&2
  exit 1
fi

echo "check-bundle: npm ci in $frontend"
(cd "$frontend" && npm ci --no-audit --no-fund)
echo "check-bundle: npm ci in $here"
npm ci --no-audit --no-fund
echo "check-bundle: npm run build"
npm run build

if cmp -s "$tmp/reference.js" "$bundle"; then
  echo "check-bundle: OK, the rebuilt $bundle is identical to $reference" \
    "($(wc -c <"$bundle" | tr -d ' ') bytes)"
  exit 0
fi
echo "check-bundle: FAILED: the rebuilt $bundle differs from $reference." >&2
echo "check-bundle: rebuild with 'npm run build' in $here and commit $bundle" \
  "together with the source change." >&2
exit 1
