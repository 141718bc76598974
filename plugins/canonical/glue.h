// The C side of the canonical adapter: one libraft node on its own libuv
// loop. Go never touches libraft or libuv state directly: it queues requests
// (rc_submit) that the loop thread picks up through a uv_async_t, and it
// reads a copy of the node's status that the loop refreshes after every
// iteration (rc_status). See canonical.go for the ownership rules.
#ifndef RAFTCMP_CANONICAL_GLUE_H
#define RAFTCMP_CANONICAL_GLUE_H

#include <stdint.h>
#include <stddef.h>

#include <raft.h>

// Kinds of request Go hands to the loop.
enum { RC_APPLY = 1, RC_BARRIER = 2, RC_ADD = 3, RC_REMOVE = 4 };

// Status codes the glue adds to libraft's (all above libraft's range).
enum { RC_STOPPED = 1000 };

typedef struct rc_node rc_node;

// What Start configures: libraft's settings, in libraft's units. A zero
// field keeps libraft's default.
typedef struct rc_config {
	raft_id id;
	const char *address; // this node's own address (raft_init, the bind address)
	const char *dir;     // data directory (raft_uv_init)
	unsigned n_peers;
	const raft_id *peer_ids;
	const char *const *peer_addrs; // the address THIS node dials for each peer
	unsigned election_ms;
	unsigned heartbeat_ms;
	unsigned install_snapshot_ms; // raft_set_install_snapshot_timeout; 0: libraft's default
	unsigned snapshot_threshold;
	unsigned snapshot_trailing;
	int pre_vote;
	unsigned connect_retry_ms;
	int nodelay; // TCP_NODELAY on every connection between nodes
	int join;    // join a running cluster: no bootstrap
	uintptr_t fsm; // cgo.Handle of the Go state machine
} rc_config;

// A copy of the node's volatile state, taken on the loop thread.
typedef struct rc_status {
	int state; // RAFT_UNAVAILABLE, RAFT_FOLLOWER, RAFT_CANDIDATE, RAFT_LEADER
	raft_id leader;
	raft_term term;
	raft_index commit;
	raft_index applied;
	raft_index last_index;
	raft_index snapshot_index; // last index covered by a snapshot
	uint64_t snapshots_taken;    // FSM snapshots taken by this node
	uint64_t snapshots_restored; // FSM restores from this node's own disk at start
	uint64_t snapshots_installed; // FSM restores of a snapshot from a leader
	uint64_t snapshot_ns; // time from each FSM snapshot to libraft's completion of it
} rc_status;

// rc_open creates, bootstraps (when fresh) and starts a node, without running
// its loop. On failure it returns NULL, everything it made released, and a
// message in errmsg (errlen bytes).
rc_node *rc_open(const rc_config *cfg, char *errmsg, size_t errlen);

// rc_run runs the node's loop on the calling thread until rc_stop's close
// completes, then closes the loop. It returns 0, or libuv's error from
// uv_loop_close (a leaked handle).
int rc_run(rc_node *n);

// rc_submit queues one request for the loop. For RC_APPLY it copies len
// bytes of data, padded to a multiple of 8 bytes as libraft needs (glue.c,
// fsm_apply), into memory libraft owns once raft_apply accepts it. The
// completion arrives exactly once, through rcGoDone(handle, ...), on the loop
// thread, or on the calling thread when rc_submit returns non-zero (the
// node is stopping): then nothing was queued and no completion follows.
int rc_submit(rc_node *n, int kind, uintptr_t handle, const void *data, size_t len);

// rc_change queues a membership change for the loop: RC_ADD adds id at
// addr as a voter (raft_add, then raft_assign to RAFT_VOTER once the add
// is committed), RC_REMOVE removes id (raft_remove). Completion as for
// rc_submit, once the last change is committed and applied here; a change
// already in effect completes with 0.
int rc_change(rc_node *n, int kind, uintptr_t handle, raft_id id, const char *addr);

// rc_set_peers replaces the address book the transport dials by id (the
// arrays are copied). Safe from any thread.
int rc_set_peers(rc_node *n, unsigned n_peers, const raft_id *ids, const char *const *addrs);

// rc_stop asks the loop to fail queued requests and close libraft, libuv's
// handles and the transport; rc_run returns once they are closed.
void rc_stop(rc_node *n);

// rc_status copies the node's status as of the loop's last iteration.
void rc_get_status(rc_node *n, rc_status *out);

// rc_free releases the node after rc_run has returned.
void rc_free(rc_node *n);

// rc_live counts the glue's live allocations: nodes (what 0), requests
// (what 1) or connection attempts (what 2), for the leak tests.
long rc_live(int what);

#endif
