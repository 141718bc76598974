// Command raftcmp-plugin-noop is raftcmp's measuring backend: a one-node
// cluster that commits instantly. See package noop.
package main

import (
	"github.com/raftcmp/raftcmp/core/adapter"
	"github.com/raftcmp/raftcmp/plugins/noop"
)

func main() { adapter.Serve(noop.New()) }
