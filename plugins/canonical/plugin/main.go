//go:build cgo

// Command raftcmp-plugin-canonical is the canonical raft (libraft, C)
// backend of raftcmp, built with cgo (make builds it when pkg-config finds
// libraft). raftcmp starts it; it is not run by hand.
package main

import (
	"github.com/raftcmp/raftcmp/core/adapter"
	"github.com/raftcmp/raftcmp/plugins/canonical"
)

func main() { adapter.Serve(canonical.New()) }
