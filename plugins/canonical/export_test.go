//go:build cgo

package canonical

// CHeapInUse is cHeapInUse for tests.
var CHeapInUse = cHeapInUse

// LiveObjects is liveObjects for tests.
var LiveObjects = liveObjects
