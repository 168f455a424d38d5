#!/usr/bin/env bash
# The Secrets sluice reads, for the in-cluster services: generated once, never printed,
# never in git. A managed PostgreSQL, Redis or S3 needs the same Secrets with its own values.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=infra/versions.env
source "$here/versions.env"
ns=$SLUICE_NAMESPACE

exists() { kubectl get secret "$1" -n "$ns" >/dev/null 2>&1; }
random() { head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 24; }

if ! exists sluice-postgres; then
  kubectl create secret generic sluice-postgres -n "$ns" \
    --from-literal=POSTGRES_USER=sluice --from-literal=POSTGRES_PASSWORD="$(random)"
fi
if ! exists sluice-s3; then
  kubectl create secret generic sluice-s3 -n "$ns" \
    --from-literal=AWS_ACCESS_KEY_ID="sluice$(random | head -c 8)" \
    --from-literal=AWS_SECRET_ACCESS_KEY="$(random)"
fi
if ! exists sluice-redis; then
  password=$(random)
  kubectl create secret generic sluice-redis -n "$ns" \
    --from-literal=REDIS_PASSWORD="$password" \
    --from-literal=SLUICE_REDIS_CONNECTION="redis.$ns.svc.cluster.local:6379,password=$password"
fi
if ! exists sluice-feast; then
  user=$(kubectl get secret sluice-postgres -n "$ns" -o jsonpath='{.data.POSTGRES_USER}' | base64 -d)
  password=$(kubectl get secret sluice-postgres -n "$ns" -o jsonpath='{.data.POSTGRES_PASSWORD}' | base64 -d)
  kubectl create secret generic sluice-feast -n "$ns" \
    --from-literal=SLUICE_FEAST_REGISTRY="postgresql+psycopg://$user:$password@postgres.$ns.svc.cluster.local:5432/feast"
fi
