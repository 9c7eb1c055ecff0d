// Package deploy checks the deployment files against the gateway's configuration: the manifests
// under kubernetes/, decoded strictly into the Kubernetes API types, and the repository's
// docker-compose.yml, loaded with compose-go as Docker Compose loads it. It is a module of its own
// so that the gateway's build never pulls in k8s.io/api or compose-go; it takes the gateway's own
// packages from the repository (go.mod's replace).
package deploy
