{{/*
Checks that JSON schema cannot express (comparisons between values). Included once, from configmap.yaml, so a bad
combination fails `helm install/upgrade/template` with a message naming the values.
*/}}
{{- define "tandem.validate" -}}
{{- $ports := dict -}}
{{- range $c := list "gateway" "vision" "decoder" -}}
{{- $p := toString (int (index $.Values $c).port) -}}
{{- if hasKey $ports $p -}}
{{- fail (printf "%s.port=%s is also %s.port: every service needs its own port" $c $p (get $ports $p)) -}}
{{- end -}}
{{- $_ := set $ports $p $c -}}
{{- $t := int (index $.Values $c).terminationGracePeriodSeconds -}}
{{- if ge (int $.Values.shutdownGraceSeconds) $t -}}
{{- fail (printf "shutdownGraceSeconds=%d must be below %s.terminationGracePeriodSeconds=%d: the kubelet kills the pod at the latter, cutting the drain" (int $.Values.shutdownGraceSeconds) $c $t) -}}
{{- end -}}
{{- $a := (index $.Values $c).autoscaling -}}
{{- if gt (int $a.minReplicas) (int $a.maxReplicas) -}}
{{- fail (printf "%s.autoscaling.minReplicas=%d is above maxReplicas=%d" $c (int $a.minReplicas) (int $a.maxReplicas)) -}}
{{- end -}}
{{- end -}}
{{- /* install and upgrade only: `helm lint` renders with the defaults, where the repository is empty on purpose */ -}}
{{- if and (or .Release.IsInstall .Release.IsUpgrade) (not .Values.image.repository) -}}
{{- fail "image.repository is empty: set image.repository to the registry/repository you pushed the Tandem image to (docker build -f k8s/docker/Dockerfile; no public image is published), e.g. --set image.repository=registry.example.com/tandem" -}}
{{- end -}}
{{- if dig "customMetric" "provider" "" .Values.gateway.autoscaling -}}
{{- fail "gateway.autoscaling.customMetric.provider must be empty: the gateway has no serving signal to scale on (it scales on CPU)" -}}
{{- end -}}
{{- if and .Values.vision.autoscaling.customMetric.provider (ne .Values.vision.autoscaling.customMetric.signal "queue") -}}
{{- fail (printf "vision.autoscaling.customMetric.signal=%s: vision-svc has only the queue signal (tiles waiting)" .Values.vision.autoscaling.customMetric.signal) -}}
{{- end -}}
{{- range $c := list "vision" "decoder" -}}
{{- $cm := (index $.Values $c).autoscaling.customMetric -}}
{{- if and $cm.provider (not (gt (float64 $cm.target) 0.0)) -}}
{{- fail (printf "%s.autoscaling.customMetric.target=%s must be above 0" $c $cm.target) -}}
{{- end -}}
{{- if and $cm.provider (le (int $.Values.metrics.port) 0) -}}
{{- fail (printf "%s.autoscaling.customMetric needs the metrics endpoint: metrics.port is 0" $c) -}}
{{- end -}}
{{- end -}}
{{- if and .Values.serviceMonitor.enabled (le (int .Values.metrics.port) 0) -}}
{{- fail "serviceMonitor.enabled needs metrics.port > 0 (there is no /metrics port to scrape)" -}}
{{- end -}}
{{- $g := .Values.gateway -}}
{{- if and (gt (float64 $g.ratePerSecond) 0.0) (lt (int $g.rateBurst) 1) -}}
{{- fail "gateway.rateBurst must be at least 1 while gateway.ratePerSecond is above 0 (set ratePerSecond=0 to turn the rate limit off)" -}}
{{- end -}}
{{- if ge (int $g.http.port) 0 -}}
{{- $hp := toString (int $g.http.port) -}}
{{- if hasKey $ports $hp -}}
{{- fail (printf "gateway.http.port=%s is also %s.port: the HTTP API needs a port of its own" $hp (get $ports $hp)) -}}
{{- end -}}
{{- if eq $hp (toString (int .Values.metrics.port)) -}}
{{- fail (printf "gateway.http.port=%s is also metrics.port: the HTTP API needs a port of its own" $hp) -}}
{{- end -}}
{{- end -}}
{{- $m := toString (int .Values.metrics.port) -}}
{{- if hasKey $ports $m -}}
{{- fail (printf "metrics.port=%s is also %s.port: choose another metrics port" $m (get $ports $m)) -}}
{{- end -}}
{{- if or .Values.tls.enabled .Values.tls.internal.enabled -}}
{{- $h := toString (int .Values.tls.healthPort) -}}
{{- if hasKey $ports $h -}}
{{- fail (printf "tls.healthPort=%s is also %s.port: the plaintext health-only port needs a port of its own" $h (get $ports $h)) -}}
{{- end -}}
{{- if eq $h $m -}}
{{- fail (printf "tls.healthPort=%s is also metrics.port: the plaintext health-only port needs a port of its own" $h) -}}
{{- end -}}
{{- end -}}
{{- end -}}
