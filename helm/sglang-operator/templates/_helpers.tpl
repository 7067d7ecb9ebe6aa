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
# tests/rbac_matrix.py names the code that uses each verb; a test compares this with it, and
# another asks the real API server what the ServiceAccount may do.
# The resource it serves: watched (list, watch) into a cache it reads; it writes only the
# status.
- apiGroups: [sglang-operator.io]
  resources: [sglangdeployments]
  verbs: [list, watch]
- apiGroups: [sglang-operator.io]
  resources: [sglangdeployments/status]
  verbs: [patch]
# What it creates per deployment, watched (list, watch) into caches it reads; a child missing
# from them is read (get) before it is written, so that an object of its name without the
# operator's label is never taken over. Written with server-side apply (patch, and create for
# a new object); delete removes the groups of a scale-down and replaces Jobs.
- apiGroups: [apps]
  resources: [statefulsets]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [""]
  resources: [services]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [batch]
  resources: [jobs]
  verbs: [get, list, watch, create, patch, delete]
# The specs the StatefulSets were built from, kept beyond them (a group whose StatefulSet was
# deleted comes back on the revision its pods run): cached, read, applied like the others,
# deleted once no StatefulSet records a spec and no pod runs what it builds.
- apiGroups: [apps]
  resources: [controllerrevisions]
  verbs: [get, list, watch, create, patch, delete]
# Pods are watched for group health and deleted together to restart or roll a group (with
# no grace period on a lost node). create: only ever with dryRun=All, to ask admission about
# a new pod template before any StatefulSet gets it (RBAC cannot grant a dry run alone).
# patch: labels by which a StatefulSet claims its pods, changed by hand, are put back; get:
# a pod a StatefulSet lacks that no cache holds (such a label changed) is read by name.
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list, watch, create, patch, delete]
# The weights cache claim, the benchmark reporter script and results: cached and applied
# like the others, never deleted (a weights cache outlives a scale-down and goes with the
# SGLangDeployment through its owner reference, or stays under whenDeleted Retain).
- apiGroups: [""]
  resources: [persistentvolumeclaims, configmaps]
  verbs: [get, list, watch, create, patch]
# Benchmark and offline results: the operator reads the reporter's result line from the
# finished Job pod's log into status (without this, results would silently go missing).
- apiGroups: [""]
  resources: [pods/log]
  verbs: [get]
# Events for its decisions (core/v1; kopf's own event posting is off); list and watch the
# FailedCreate events of its children: pods refused at creation are told only there.
- apiGroups: [""]
  resources: [events]
  verbs: [create, list, watch]
# No secrets: the operator only puts secret names into pod specs; the kubelet reads them.
{{- end }}
