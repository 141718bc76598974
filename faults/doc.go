// Package faults applies the same fault to the same role of every backend's
// cluster, measures what it actually did, and always undoes it.
//
// A fault is described by a faultspec.Spec (kind, target role, parameters, timing),
// parsed from --fault KIND[:TARGET][,param=value...] or an experiment file.
// The target role is resolved to node ids once the cluster is ready. Each
// kind's mechanism and limits are described in docs/faults.md.
//
// Use: build an Env from the experiment's faults (NewEnv), start the
// cluster with the Env's Hooks (cgroups and link proxies come with the
// nodes and go at Stop), then bind a fault to its targets with New.
//
// Each kind's mechanism lives in a file of its own (cpuslow.go,
// netdelay.go, kill.go, ...) whose init registers it: through
// registerCgroupKind for kinds that change the targets' cgroup limits,
// registerNetKind for kinds that act on their links, or register with a
// Fault of its own. The kind's description (parameters, defaults, default
// target) is in faultspec.Kinds, under the same name.
package faults
