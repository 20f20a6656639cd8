{{/* Labels of every object's metadata (never of selectors or pod templates, which stay as in deploy/k8s). */}}
{{- define "ioc.labels" -}}
app.kubernetes.io/part-of: sonla-ioc
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/instance: {{ .Release.Name }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "ioc.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag }}
{{- end -}}

{{/* The pod security context every role shares. */}}
{{- define "ioc.podSecurity" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "ioc.containerSecurity" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: ["ALL"]
{{- end -}}

{{/* The config and secrets mounts; the secrets volume lists only the role's keys. */}}
{{- define "ioc.mounts" -}}
- name: config
  mountPath: /etc/ioc
  readOnly: true
- name: secrets
  mountPath: /run/secrets/ioc
  readOnly: true
{{- end -}}

{{/* ioc.volumes: (list $ (list key path) ...) */}}
{{- define "ioc.volumes" -}}
{{- $root := index . 0 -}}
- name: config
  configMap:
    name: ioc-config
- name: secrets
  secret:
    secretName: {{ $root.Values.secretName }}
    defaultMode: 0440
    items:
{{- range $kp := rest . }}
      - key: {{ index $kp 0 }}
        path: {{ index $kp 1 }}
{{- end }}
{{- end -}}
