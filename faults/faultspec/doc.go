// Package faultspec describes faults without applying them: the kinds
// raftcmp knows with their parameters and defaults, the target roles, and
// the one canonical text form of a fault (KIND:TARGET,param=value,...) that
// --fault, experiment files, results.csv and reports all use.
//
// It imports nothing of raftcmp's and nothing heavy, so the experiment
// parser and the report builder can read fault names without linking the
// mechanisms (cgroups, proxies, plugin processes) that package faults holds.
package faultspec
