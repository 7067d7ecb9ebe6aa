{{/* The chart name, or nameOverride. */}}
{{- define "sglang-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The base name of every object: fullnameOverride, else the release name when it already
contains the chart name (helm install sglang-operator ...), else "<release>-<chart>".
*/}}
{{- define "sglang-operator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := include "sglang-operator.name" . }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "sglang-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "sglang-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "sglang-operator.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "sglang-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: operator
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "sglang-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "sglang-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "sglang-operator.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
What the operator does through the API, and nothing more. In cluster-wide mode these rules
go into a ClusterRole, otherwise into a Role in each watched namespace.
*/}}
{{- define "sglang-operator.operatorRules" -}}
# The resource it serves. patch also covers kopf, which records handler progress and the
# last handled spec in annotations under sglang-operator.io/ (finalizers too) by patching.
- apiGroups: [sglang-operator.io]
  resources: [sglangdeployments]
  verbs: [get, list, watch, patch]
- apiGroups: [sglang-operator.io]
  resources: [sglangdeployments/status]
  verbs: [get, patch, update]
# What it creates per deployment, written with server-side apply (patch); delete removes the
# groups of a scale-down (everything else goes by owner-reference garbage collection).
- apiGroups: [apps]
  resources: [statefulsets]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [""]
  resources: [services, persistentvolumeclaims, configmaps]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [batch]
  resources: [jobs]
  verbs: [get, list, watch, create, patch, delete]
# Pods are watched for group health and deleted together to restart a multi-node group.
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list, watch, delete]
# Benchmark and offline results: the operator reads the reporter's result line from the
# finished Job pod's log into status (without this, results would silently go missing).
- apiGroups: [""]
  resources: [pods/log]
  verbs: [get]
# Events for its decisions (kopf posts its own through the core API with create).
- apiGroups: ["", events.k8s.io]
  resources: [events]
  verbs: [create, patch]
# No secrets: the operator only puts secret names into pod specs; the kubelet reads them.
{{- end }}
