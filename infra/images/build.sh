#!/usr/bin/env bash
# `make images`: every sluice image, with docker (buildx) or podman. Each image's wheels
# come from the one shared build stage (infra/images/wheels.Dockerfile), handed to the
# image's Dockerfile as the named build context `wheels`.
#   infra/images/build.sh              every image
#   infra/images/build.sh sluice-serving sluice-drift
set -euo pipefail
cd "$(dirname "$0")/../.."
registry=${REGISTRY:-ghcr.io/sluice-ml}
version=$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
commit=$(git rev-parse HEAD 2>/dev/null || echo unknown)

# image | Dockerfile | extras | source folders it carries | dependencies (wheels.Dockerfile's
# DEPS: `project`, sluice with its extras; `extras`, the extras' own requirements and sluice
# installed with --no-deps, for drift's numpy<2)
IMAGES=(
  "sluice|Dockerfile|pipeline,train|components pipelines serving|project"
  "sluice-serving|serving/Dockerfile|serve|components/base components/flights serving|project"
  "sluice-drift|serving/drift/Dockerfile|drift|components/base components/flights serving|extras"
)

if command -v docker >/dev/null 2>&1 && docker buildx version >/dev/null 2>&1; then
  engine=(docker buildx build --load) scheme=docker-image
elif command -v podman >/dev/null 2>&1; then
  engine=(podman build) scheme=container-image
else
  echo "error: make images needs docker (with buildx) or podman, and neither is installed here" >&2
  exit 2
fi

for row in "${IMAGES[@]}"; do
  IFS='|' read -r image dockerfile extras packages deps <<<"$row"
  if (($#)) && [[ " $* " != *" $image "* ]]; then continue; fi
  wheels="localhost/$image-wheels:$version"
  "${engine[@]}" -f infra/images/wheels.Dockerfile -t "$wheels" \
    --build-arg EXTRAS="$extras" --build-arg PACKAGES="$packages" --build-arg DEPS="$deps" .
  "${engine[@]}" -f "$dockerfile" -t "$registry/$image:$version" \
    --build-context wheels="$scheme://$wheels" --build-arg GIT_COMMIT="$commit" .
  echo "built $registry/$image:$version"
done
