{{- define "lineage-server.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "lineage-server.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "lineage-server.selectorLabels" -}}
app.kubernetes.io/name: {{ include "lineage-server.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The server's pods (the optional Marquez UI's carry component: marquez-web). */}}
{{- define "lineage-server.serverSelectorLabels" -}}
{{ include "lineage-server.selectorLabels" . }}
app.kubernetes.io/component: server
{{- end }}

{{- define "lineage-server.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "lineage-server.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: lineage-core
{{- end }}

{{- define "lineage-server.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{- define "lineage-server.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "lineage-server.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The secret holding the store URL: the user's, or the chart's (made from store.url). */}}
{{- define "lineage-server.storeSecret" -}}
{{- if and .Values.store.existingSecret (not .Values.postgresql.enabled) }}{{ .Values.store.existingSecret }}{{ else }}{{ include "lineage-server.fullname" . }}-store{{ end }}
{{- end }}

{{/* Whether the chart makes the store secret, and the URL it holds (the evaluation PostgreSQL's, when enabled). */}}
{{- define "lineage-server.makesStoreSecret" -}}
{{- if or .Values.postgresql.enabled (not .Values.store.existingSecret) }}true{{ end }}
{{- end }}

{{- define "lineage-server.storeUrl" -}}
{{- if .Values.postgresql.enabled }}
{{- $pg := .Values.postgresql }}
{{- printf "postgresql+psycopg://%s:%s@%s-postgresql:5432/%s" $pg.username $pg.password (include "lineage-server.fullname" .) $pg.database }}
{{- else }}
{{- .Values.store.url }}
{{- end }}
{{- end }}

{{/* The retention CronJob's name: at most 52 characters (its Jobs' names add 11). */}}
{{- define "lineage-server.retentionName" -}}
{{- printf "%s-retention" (include "lineage-server.fullname" .) | trunc 52 | trimSuffix "-" }}
{{- end }}

{{- define "lineage-server.tokensSecret" -}}
{{- if .Values.auth.existingSecret }}{{ .Values.auth.existingSecret }}{{ else }}{{ include "lineage-server.fullname" . }}-tokens{{ end }}
{{- end }}

{{/* The token file's lines: NAME:TOKEN:scope[,scope][:namespace-glob[,glob]] (lineage_core/server/auth.py). */}}
{{- define "lineage-server.tokenFile" -}}
{{- range .Values.auth.tokens }}
{{- $line := printf "%s:%s:%s" .name .token (join "," .scopes) }}
{{- if .namespaces }}{{ $line = printf "%s:%s" $line (join "," .namespaces) }}{{ end }}
{{ $line }}
{{- end }}
{{- end }}

{{- define "lineage-server.checks" -}}
{{- if and .Values.postgresql.enabled (not .Values.postgresql.password) }}
{{- fail "postgresql.enabled: give postgresql.password (the evaluation database's)" }}
{{- end }}
{{- if and (not .Values.postgresql.enabled) (not .Values.store.existingSecret) (not .Values.store.url) }}
{{- fail "store: give store.existingSecret (a secret holding the PostgreSQL URL) or store.url" }}
{{- end }}
{{- if and (not .Values.auth.existingSecret) (not .Values.auth.tokens) }}
{{- fail "auth: the server is bound off loopback and needs tokens: give auth.existingSecret or auth.tokens" }}
{{- end }}
{{- if and .Values.artifacts.persistence.enabled (not .Values.artifacts.persistence.existingClaim) }}
{{- fail "artifacts.persistence: give existingClaim (a ReadWriteMany claim when replicaCount > 1)" }}
{{- end }}
{{- end }}

{{/* Environment shared by the server and the migration Job: store, artifacts, home (LINEAGE_HOME on /tmp).
     Arguments: root (the chart's context), storeSecret (its name), hook (true in the migration Job). */}}
{{- define "lineage-server.env" -}}
- name: LINEAGE_HOME
  value: /tmp/lineage
- name: LINEAGE_STORE_URL
  valueFrom:
    secretKeyRef:
      name: {{ .storeSecret }}
      key: {{ .root.Values.store.key }}
{{- if .hook }}{{/* a hook runs before the release's ConfigMap exists: literal values */}}
- name: LINEAGE_ARTIFACTS_URL
  value: {{ .root.Values.artifacts.url | quote }}
{{- with .root.Values.artifacts.options }}
- name: LINEAGE_ARTIFACTS_OPTIONS
  value: {{ toJson . | quote }}
{{- end }}
{{- else }}
- name: LINEAGE_ARTIFACTS_URL
  valueFrom:
    configMapKeyRef:
      name: {{ include "lineage-server.fullname" .root }}
      key: artifacts-url
{{- if .root.Values.artifacts.options }}
- name: LINEAGE_ARTIFACTS_OPTIONS
  valueFrom:
    configMapKeyRef:
      name: {{ include "lineage-server.fullname" .root }}
      key: artifacts-options
{{- end }}
{{- end }}
{{- with .root.Values.server.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* A Job pod's volumes and its containers' mounts (the migration Job, the retention CronJob): /tmp (LINEAGE_HOME
     is under it) and, with artifacts.persistence, the artifacts claim. */}}
{{- define "lineage-server.jobVolumeMounts" -}}
- name: tmp
  mountPath: /tmp
{{- if .Values.artifacts.persistence.enabled }}
- name: artifacts
  mountPath: {{ .Values.artifacts.persistence.mountPath }}
{{- end }}
{{- end }}

{{- define "lineage-server.jobVolumes" -}}
- name: tmp
  emptyDir:
    sizeLimit: 256Mi
{{- if .Values.artifacts.persistence.enabled }}
- name: artifacts
  persistentVolumeClaim:
    claimName: {{ .Values.artifacts.persistence.existingClaim }}
{{- end }}
{{- end }}

{{/* The token metrics.serviceMonitor.tokenName names in auth.tokens (empty when none does). */}}
{{- define "lineage-server.metricsToken" -}}
{{- $name := .Values.metrics.serviceMonitor.tokenName }}
{{- range .Values.auth.tokens }}{{ if eq .name $name }}{{ .token }}{{ end }}{{ end }}
{{- end }}

{{/* A ServiceMonitor's scrape must be admitted: /metrics needs a `read` token with no namespace limit, unless
     lineage reads are anonymous. */}}
{{- define "lineage-server.metricsChecks" -}}
{{- $sm := .Values.metrics.serviceMonitor }}
{{- if and $sm.tokenSecret.name (not $sm.tokenSecret.key) }}
{{- fail "metrics.serviceMonitor.tokenSecret: give its key too" }}
{{- end }}
{{- if and $sm.tokenName (not $sm.tokenSecret.name) }}
{{- $found := false }}
{{- range .Values.auth.tokens }}
{{- if eq .name $sm.tokenName }}
{{- $found = true }}
{{- if or (not (has "read" .scopes)) .namespaces }}
{{- fail (printf "metrics.serviceMonitor.tokenName: token %s needs the read scope and no namespaces (/metrics spans them)" .name) }}
{{- end }}
{{- end }}
{{- end }}
{{- if not $found }}
{{- fail (printf "metrics.serviceMonitor.tokenName: no token %s in auth.tokens (with auth.existingSecret, use tokenSecret)" $sm.tokenName) }}
{{- end }}
{{- end }}
{{- if and (not $sm.tokenSecret.name) (not $sm.tokenName) (ne .Values.server.anonymousRead "lineage") }}
{{- fail "metrics.serviceMonitor: /metrics needs a read token: give tokenSecret (a secret holding one) or tokenName (one of auth.tokens), or set server.anonymousRead=lineage" }}
{{- end }}
{{- end }}
