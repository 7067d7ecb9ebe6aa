"""sglang-operator: run SGLang LLM inference on Kubernetes GPU clusters."""

API_GROUP = "sglang-operator.io"
API_VERSION = "v1alpha1"
KIND = "SGLangDeployment"
PLURAL = "sglangdeployments"
