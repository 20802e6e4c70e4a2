{{/* Names. The injector's Service name is also the TLS certificate's DNS name. */}}
{{- define "sidegate.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "sidegate.fullname" -}}
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

{{- define "sidegate.injectorName" -}}
{{- printf "%s-injector" (include "sidegate.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "sidegate.redisName" -}}
{{- printf "%s-redis" (include "sidegate.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "sidegate.tlsSecretName" -}}
{{- printf "%s-tls" (include "sidegate.injectorName" .) -}}
{{- end -}}

{{- define "sidegate.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "sidegate.injectorName" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The DNS name the API server calls: <service>.<namespace>.svc */}}
{{- define "sidegate.injectorHost" -}}
{{- printf "%s.%s.svc" (include "sidegate.injectorName" .) .Release.Namespace -}}
{{- end -}}

{{/* baseLabels go with a selector-labels set (which has the instance); labels stand alone. */}}
{{- define "sidegate.baseLabels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/part-of: sidegate
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "sidegate.labels" -}}
{{ include "sidegate.baseLabels" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "sidegate.injectorSelectorLabels" -}}
app.kubernetes.io/name: {{ include "sidegate.name" . }}-injector
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: injector
{{- end -}}

{{- define "sidegate.redisSelectorLabels" -}}
app.kubernetes.io/name: {{ include "sidegate.name" . }}-redis
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: redis
{{- end -}}

{{/* image: repository:tag, tag defaulting to the chart's appVersion. */}}
{{- define "sidegate.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "sidegate.sidecarImage" -}}
{{- $repo := default .Values.image.repository .Values.sidecar.image.repository -}}
{{- $tag := default (default .Chart.AppVersion .Values.image.tag) .Values.sidecar.image.tag -}}
{{- printf "%s:%s" $repo $tag -}}
{{- end -}}

{{/* The Redis URL handed to injected sidecars: the bundled Redis when it is on, else redis.url. */}}
{{- define "sidegate.redisUrl" -}}
{{- if .Values.redis.bundled.enabled -}}
{{- printf "redis://%s.%s.svc:6379" (include "sidegate.redisName" .) .Release.Namespace -}}
{{- else -}}
{{- .Values.redis.url -}}
{{- end -}}
{{- end -}}

{{/*
The injector's config file (injector/src/config.ts parses it; unknown keys are refused there, so
only keys it knows are written).
*/}}
{{- define "sidegate.injectorConfig" -}}
image: {{ include "sidegate.sidecarImage" . | quote }}
imagePullPolicy: {{ default .Values.image.pullPolicy .Values.sidecar.image.pullPolicy }}
injectorNamespace: {{ .Release.Namespace }}
nativeSidecar: {{ .Values.sidecar.nativeSidecar }}
interception: {{ .Values.sidecar.interception }}
resources:
  cpuRequest: {{ .Values.sidecar.resources.cpuRequest | quote }}
  memoryRequest: {{ .Values.sidecar.resources.memoryRequest | quote }}
  {{- with .Values.sidecar.resources.cpuLimit }}
  cpuLimit: {{ . | quote }}
  {{- end }}
  memoryLimit: {{ .Values.sidecar.resources.memoryLimit | default "" | quote }}
{{- $url := include "sidegate.redisUrl" . }}
{{- if $url }}
redis:
  url: {{ $url | quote }}
  {{- if .Values.redis.passwordSecret.name }}
  passwordSecret:
    name: {{ .Values.redis.passwordSecret.name | quote }}
    key: {{ .Values.redis.passwordSecret.key | quote }}
  {{- end }}
{{- end }}
{{- with .Values.sidecar.defaultPolicy }}
defaultPolicy:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.sidecar.logLevel }}
logLevel: {{ . }}
{{- end }}
{{- if .Values.tracing.enabled }}
tracing:
  exporter: {{ .Values.tracing.exporter }}
  endpoint: {{ required "tracing.endpoint is required when tracing.enabled is true" .Values.tracing.endpoint | quote }}
  sampler: {{ .Values.tracing.sampler }}
  samplerArg: {{ .Values.tracing.samplerArg | quote }}
{{- end }}
{{- end -}}
