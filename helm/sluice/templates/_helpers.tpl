{{/* The release's base name, cut to fit Kubernetes' 63-character names. */}}
{{- define "sluice.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "sluice.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The standard labels, on every object. */}}
{{- define "sluice.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "sluice.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: sluice
{{- end -}}

{{- define "sluice.selectorLabels" -}}
app.kubernetes.io/name: {{ include "sluice.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* An image by an immutable reference: `registry/repository@digest`, else the tag. */}}
{{- define "sluice.image" -}}
{{- $image := index .root.Values.images .image -}}
{{- if $image.digest -}}
{{- printf "%s/%s@%s" .root.Values.images.registry $image.repository $image.digest -}}
{{- else -}}
{{- printf "%s/%s:%s" .root.Values.images.registry $image.repository (default .root.Chart.AppVersion $image.tag) -}}
{{- end -}}
{{- end -}}

{{/* Pod Security Standards "restricted", pod level. */}}
{{- define "sluice.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.security.runAsUser }}
runAsGroup: {{ .Values.security.runAsUser }}
fsGroup: {{ .Values.security.runAsUser }}
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Pod Security Standards "restricted", container level; the root filesystem is
read-only and writable paths are emptyDirs. */}}
{{- define "sluice.containerSecurityContext" -}}
runAsNonRoot: true
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* What a sluice container reads: its settings from the ConfigMap, and the credentials
of the Secrets it names (`secrets`: keys of .Values.secrets), each optional since a service
without auth has none. Call with (dict "root" $ "secrets" (list ...)). */}}
{{- define "sluice.settingsEnv" -}}
{{- $keys := dict "mlflow" (list "MLFLOW_TRACKING_USERNAME" "MLFLOW_TRACKING_PASSWORD") "s3" (list "AWS_ACCESS_KEY_ID" "AWS_SECRET_ACCESS_KEY") "redis" (list "SLUICE_REDIS_CONNECTION") "feast" (list "SLUICE_FEAST_REGISTRY") -}}
envFrom:
  - configMapRef:
      name: {{ .root.Values.config.name }}
env:
  - name: SLUICE_HOME
    value: /tmp/sluice
  - name: HOME
    value: /tmp
{{- range $secret := .secrets }}
{{- range (index $keys $secret) }}
  - name: {{ . }}
    valueFrom:
      secretKeyRef:
        name: {{ index $.root.Values.secrets $secret }}
        key: {{ . }}
        optional: true
{{- end }}
{{- end }}
{{- end -}}

{{/* A URI that carries a password would put it in an object anyone with read access sees:
refused, without repeating it. `instead`: what to do, where no Secret is the answer. */}}
{{- define "sluice.noPassword" -}}
{{- if regexMatch "://[^/@:]*:[^/@]*@" .uri -}}
{{- fail (printf "%s carries a password: %s" .field (.instead | default (printf "put it in the Secret %s instead" .secret))) -}}
{{- end -}}
{{- end -}}

{{/* The labels of one of the chart's own workloads (`component`: drift, trigger), on the
objects and, as selector labels, on its pods. Call with (dict "root" $ "component" ...). */}}
{{- define "sluice.componentLabels" -}}
{{ include "sluice.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "sluice.componentSelectorLabels" -}}
{{ include "sluice.selectorLabels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* In-cluster base URLs of the drift service and the retrain trigger (their Services
listen on port 80). */}}
{{- define "sluice.driftUrl" -}}
{{- printf "http://%s-drift.%s.svc.cluster.local/" (include "sluice.fullname" .) .Release.Namespace -}}
{{- end -}}

{{- define "sluice.triggerUrl" -}}
{{- printf "http://%s-trigger.%s.svc.cluster.local" (include "sluice.fullname" .) .Release.Namespace -}}
{{- end -}}

{{/* An HTTP service's port `http` and its probes on /healthz; the startup probe gives a slow
import (alibi-detect, numba) two minutes. Call with (dict "port" N). */}}
{{- define "sluice.httpPortAndProbes" -}}
ports:
  - name: http
    containerPort: {{ .port }}
    protocol: TCP
startupProbe:
  httpGet:
    path: /healthz
    port: http
  periodSeconds: 5
  failureThreshold: 24
readinessProbe:
  httpGet:
    path: /healthz
    port: http
  periodSeconds: 5
livenessProbe:
  httpGet:
    path: /healthz
    port: http
  periodSeconds: 10
  failureThreshold: 6
{{- end -}}

{{/* The Service in front of one of the chart's HTTP services: port 80 (`http`) to the
container's `http`. Call with (dict "root" $ "component" ...). */}}
{{- define "sluice.service" -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "sluice.fullname" .root }}-{{ .component }}
  labels:
    {{- include "sluice.componentLabels" . | nindent 4 }}
spec:
  selector:
    {{- include "sluice.componentSelectorLabels" . | nindent 4 }}
  ports:
    - name: http
      port: 80
      targetPort: http
      protocol: TCP
{{- end -}}
