//go:build tools

// Package tools pins pilot-discovery (istiod) so that `go mod tidy` keeps its
// dependencies in go.sum; scripts/peers/build-istiod.sh builds it.
package tools

import (
	_ "istio.io/istio/pilot/cmd/pilot-discovery"
)
