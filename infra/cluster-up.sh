#!/usr/bin/env bash
# Create a kind cluster (or use the current kubectl context with --existing) and install
# everything sluice runs on, at the versions in infra/versions.env.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=infra/versions.env
source "$here/versions.env"

existing=false
for arg in "$@"; do
  case "$arg" in
    --existing) existing=true ;;
    *) echo "usage: $0 [--existing]" >&2; exit 2 ;;
  esac
done

need() { command -v "$1" >/dev/null 2>&1 || { echo "error: $1 is not installed" >&2; exit 1; }; }
need kubectl
need helm
if [[ $existing == false ]]; then
  need kind
  kind get clusters | grep -qx sluice || kind create cluster --config "$here/kind.yaml" --image "$KIND_NODE_IMAGE"
fi
"$here/bootstrap.sh"
