// Package deploy checks the deployment manifests under kubernetes/ against the Kubernetes API
// types and the gateway's documented configuration. It is a module of its own so that the
// gateway's build never pulls in k8s.io/api.
package deploy
