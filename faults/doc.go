// Package faults applies the same fault to the same role of every backend's
// cluster, measures what it actually did, and always undoes it.
//
// A fault is described by a faultspec.Spec (kind, target role, parameters, timing),
// parsed from --fault KIND[:TARGET][,param=value...] or an experiment file.
// The target role is resolved to node ids once the cluster is ready. Each
// kind's mechanism and limits are described in docs/faults.md.
package faults
