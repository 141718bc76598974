// Command raftcmp-plugin-dragonboat is the lni/dragonboat/v4 backend of
// raftcmp. raftcmp starts it; it is not run by hand.
package main

import (
	"github.com/raftcmp/raftcmp/core/adapter"
	"github.com/raftcmp/raftcmp/plugins/dragonboat"
)

func main() { adapter.Serve(dragonboat.New()) }
