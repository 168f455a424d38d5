#!/usr/bin/env bash
# The Secrets sluice reads, for the in-cluster services, in namespace $1 (default: the
# sluice namespace): generated once, then copied as they are into other namespaces (KFP's),
# never printed, never in git, never on a command line. A managed PostgreSQL, Redis or S3
# needs the same Secrets with its own values.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=infra/versions.env
source "$here/versions.env"
home=$SLUICE_NAMESPACE
ns=${1:-$home}

exists() { kubectl get secret "$1" -n "$2" >/dev/null 2>&1; }
random() { head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 24; }
value() { kubectl get secret "$1" -n "$home" -o "jsonpath={.data.$2}" | base64 -d; }
create() {  # name, then KEY=VALUE lines on stdin
  kubectl create secret generic "$1" -n "$home" --from-env-file=/dev/stdin
}

if [[ $ns == "$home" ]]; then
  exists sluice-postgres "$home" || printf 'POSTGRES_USER=sluice\nPOSTGRES_PASSWORD=%s\n' "$(random)" | create sluice-postgres
  if ! exists sluice-s3 "$home"; then
    printf 'AWS_ACCESS_KEY_ID=sluice%s\nAWS_SECRET_ACCESS_KEY=%s\n' "$(random | head -c 8)" "$(random)" | create sluice-s3
    # KServe's storage initializer reads where S3 is from the Secret's annotations.
    kubectl annotate secret sluice-s3 -n "$home" --overwrite \
      "serving.kserve.io/s3-endpoint=minio.$home.svc.cluster.local:9000" \
      serving.kserve.io/s3-usehttps=0 serving.kserve.io/s3-region=us-east-1
  fi
  if ! exists sluice-redis "$home"; then
    password=$(random)
    printf 'REDIS_PASSWORD=%s\nSLUICE_REDIS_CONNECTION=redis.%s.svc.cluster.local:6379,password=%s\n' \
      "$password" "$home" "$password" | create sluice-redis
  fi
  if ! exists sluice-feast "$home"; then
    printf 'SLUICE_FEAST_REGISTRY=postgresql+psycopg://%s:%s@postgres.%s.svc.cluster.local:5432/feast\n' \
      "$(value sluice-postgres POSTGRES_USER)" "$(value sluice-postgres POSTGRES_PASSWORD)" "$home" \
      | create sluice-feast
  fi
  exit 0
fi
for secret in sluice-s3 sluice-redis sluice-feast; do
  exists "$secret" "$ns" && continue
  kubectl get secret "$secret" -n "$home" -o json \
    | python3 -c 'import json,sys; s=json.load(sys.stdin); m=s["metadata"]; s["metadata"]={"name": m["name"], "namespace": sys.argv[1], "annotations": m.get("annotations", {})}; print(json.dumps(s))' "$ns" \
    | kubectl apply -f -
done
