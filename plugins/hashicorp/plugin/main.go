// Command raftcmp-plugin-hashicorp is the hashicorp/raft backend of raftcmp.
// raftcmp starts it; it is not run by hand.
package main

import (
	"github.com/raftcmp/raftcmp/core/adapter"
	"github.com/raftcmp/raftcmp/plugins/hashicorp"
)

func main() { adapter.Serve(hashicorp.New()) }
