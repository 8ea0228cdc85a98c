{{/* Names. */}}
{{- define "tandem.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "tandem.fullname" -}}
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

{{/* Name of one component's objects: <fullname>-<component>. Args: (dict "root" $ "c" "vision"). */}}
{{- define "tandem.componentName" -}}
{{- printf "%s-%s" (include "tandem.fullname" .root) .c | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "tandem.headlessName" -}}
{{- printf "%s-%s-headless" (include "tandem.fullname" .root) .c | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "tandem.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "tandem.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Labels. */}}
{{- define "tandem.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "tandem.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: tandem
{{- end -}}

{{/* Selector labels of one component. Args: (dict "root" $ "c" "vision"). */}}
{{- define "tandem.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tandem.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .c }}
{{- end -}}

{{- define "tandem.componentLabels" -}}
{{ include "tandem.labels" .root }}
app.kubernetes.io/component: {{ .c }}
{{- end -}}

{{/* True (non-empty) when this component runs on a GPU: vision and decoder with device=cuda. */}}
{{- define "tandem.usesGpu" -}}
{{- if and (eq .root.Values.device "cuda") (ne .c "gateway") -}}true{{- end -}}
{{- end -}}

{{/* Image of one component: the gateway never needs CUDA, so it always runs the smaller cpu flavor. */}}
{{- define "tandem.image" -}}
{{- $flavor := ternary "cuda" "cpu" (eq (include "tandem.usesGpu" .) "true") -}}
{{- printf "%s:%s-%s" .root.Values.image.repository (default .root.Chart.AppVersion .root.Values.image.tag) $flavor -}}
{{- end -}}

{{/* The link the download step points at the downloaded snapshot: <mountPath>/by-repo/<org>--<name>[@rev]. */}}
{{- define "tandem.modelLink" -}}
{{- printf "%s/by-repo/%s" (trimSuffix "/" .Values.model.mountPath) (replace "/" "--" .Values.model.repo) -}}
{{- end -}}

{{/* TANDEM_MODEL, always a checkpoint folder: yours (localDir) or the downloaded snapshot through its link. */}}
{{- define "tandem.modelRef" -}}
{{- if .Values.model.localDir -}}
{{- printf "%s/%s" (trimSuffix "/" .Values.model.mountPath) (trimPrefix "/" .Values.model.localDir) -}}
{{- else -}}
{{- include "tandem.modelLink" . -}}
{{- end -}}
{{- end -}}

{{/* gRPC target of a model service as the gateway dials it. Args: (dict "root" $ "c" "vision"). */}}
{{- define "tandem.backendAddr" -}}
{{- $v := index .root.Values .c -}}
{{- if eq .root.Values.gateway.backendDiscovery "headless" -}}
{{- printf "dns:///%s:%d" (include "tandem.headlessName" .) (int $v.port) -}}
{{- else -}}
{{- printf "%s:%d" (include "tandem.componentName" .) (int $v.port) -}}
{{- end -}}
{{- end -}}

{{/*
True (non-empty) when this component's gRPC port serves TLS: the gateway with tls.enabled, vision and decoder with
tls.internal.enabled. Its probes then go to the plaintext health-only port. Args: (dict "root" $ "c" "vision").
*/}}
{{- define "tandem.servesTls" -}}
{{- if eq .c "gateway" -}}
{{- if .root.Values.tls.enabled -}}true{{- end -}}
{{- else -}}
{{- if .root.Values.tls.internal.enabled -}}true{{- end -}}
{{- end -}}
{{- end -}}

{{/* The Prometheus metric of an autoscaling signal. Args: (dict "c" "decoder" "signal" "queue"). */}}
{{- define "tandem.signalMetric" -}}
{{- if eq .c "vision" -}}vision_queue_tiles
{{- else if eq .signal "kvCache" -}}decoder_kv_cache_usage
{{- else -}}decoder_queue_length
{{- end -}}
{{- end -}}
