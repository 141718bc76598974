// Command raftcmp-plugin-etcd is the go.etcd.io/raft/v3 backend of raftcmp.
// raftcmp starts it; it is not run by hand.
package main

import (
	"github.com/raftcmp/raftcmp/core/adapter"
	"github.com/raftcmp/raftcmp/plugins/etcd"
)

func main() { adapter.Serve(etcd.New()) }
