//go:build tools

// Package tools records the main packages e2e/framework builds from KEDA:
// the blank imports keep them, and everything they need, in go.mod and
// go.sum.
package tools

import (
	_ "github.com/kedacore/keda/v2/cmd/adapter"
	_ "github.com/kedacore/keda/v2/cmd/operator"
)
