//go:build tools

// Package tools records the main packages e2e/framework builds: the blank
// imports keep them, and everything they need, in go.mod and go.sum.
package tools

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
)
