//go:build cgo

package canonical

// CHeapInUse is cHeapInUse for tests.
var CHeapInUse = cHeapInUse

// LiveObjects is liveObjects for tests.
var LiveObjects = liveObjects

// Snapshots is snapshots for tests.
func (n *Node) Snapshots() (taken, restored, installed uint64) { return n.snapshots() }
