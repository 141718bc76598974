//go:build cgo

// rc_lib_path: which libraft this process loaded, for Describe's version.
#define _GNU_SOURCE
#include <dlfcn.h>

#include <raft.h>

const char *rc_lib_path(void)
{
	Dl_info info;
	if (dladdr((void *)raft_init, &info) != 0 && info.dli_fname != NULL) {
		return info.dli_fname;
	}
	return "libraft";
}
