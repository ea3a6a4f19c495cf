#!/bin/sh
# Rebuild committed JS bundles from source and fail if one differs from what is
# committed.
#
#   .ci/check-bundle.sh [APP_FOLDER ...]
#
# An app folder has a package.json (with a lock file and a `build` script) and
# a committed build/bundle.js. Without arguments, every such folder in the git
# checkout is checked. For each: `npm ci` in the folders its `file:`
# dependencies name (the crowdsite-task package in frontend/, say), `npm ci`
# there, `npm run build`, and compare. The reference is build/bundle.js as
# committed in HEAD; outside a git checkout (or with CHECK_BUNDLE_AGAINST=worktree)
# it is the file as it was before the rebuild. The builds are deterministic, so a
# difference means the sources changed without the bundle being rebuilt and
# committed (or the reverse).
set -eu

bundle=build/bundle.js
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

check() {
  here=$(cd "$1" && pwd)
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
    echo "check-bundle: there is no $here/$bundle to compare with" >&2
    return 1
  fi

  # `|| return 1` on each step: the caller's `||` turns `set -e` off in here.
  local_packages=$(node -e '
    const p = require("./package.json");
    const all = { ...p.dependencies, ...p.devDependencies };
    for (const spec of Object.values(all)) {
      if (spec.startsWith("file:")) console.log(spec.slice(5));
    }') || return 1
  for local_package in $local_packages; do
    echo "check-bundle: npm ci in $local_package (a file: dependency of $here)"
    (cd "$local_package" && npm ci --no-audit --no-fund) || return 1
  done
  echo "check-bundle: npm ci in $here"
  npm ci --no-audit --no-fund || return 1
  echo "check-bundle: npm run build in $here"
  npm run build || return 1

  if cmp -s "$tmp/reference.js" "$bundle"; then
    echo "check-bundle: OK, the rebuilt $here/$bundle is identical to $reference" \
      "($(wc -c <"$bundle" | tr -d ' ') bytes)"
    return 0
  fi
  echo "check-bundle: FAILED: the rebuilt $here/$bundle differs from $reference." >&2
  echo "check-bundle: rebuild with 'npm run build' in $here and commit $bundle" \
    "together with the source change." >&2
  return 1
}

if [ "$#" -eq 0 ]; then
  top=$(git rev-parse --show-toplevel)
  # Every committed build/bundle.js whose folder's parent is an npm package.
  set -- $(cd "$top" && git ls-files "*/$bundle" "$bundle" | while read -r file; do
    app=$(dirname "$(dirname "$file")")
    if [ -f "$app/package.json" ]; then echo "$top/$app"; fi
  done)
  if [ "$#" -eq 0 ]; then
    echo "check-bundle: no committed $bundle found" >&2
    exit 1
  fi
fi

start=$(pwd)
failed=0
for app in "$@"; do
  cd "$start"
  check "$app" || failed=1
done
exit "$failed"
