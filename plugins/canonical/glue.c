//go:build cgo

// The C side of the canonical adapter; glue.h states the contract.
//
// Threads: rc_open runs on the calling (Go) thread before the loop runs;
// after that every libraft and libuv call on the node happens on the loop
// thread (rc_run), except uv_async_send, which libuv allows from any thread.
// Go and the loop share only the request queue, the stopping flag and the
// status copy, all under mu.
//
// Memory: a request (rc_req) is malloc'd by rc_submit and freed by the loop
// after its completion was delivered. A payload is copied, padded to a
// multiple of 8 bytes (fsm_apply says why), into a buffer from
// raft_malloc; raft_apply takes it over when it accepts the entry, otherwise
// the loop frees it. Snapshot buffers are raft_malloc'd and freed by libraft
// (fsm version 1); a restored snapshot's buffer is freed here, as libraft
// hands it over. The peer list is copied at rc_open and freed by rc_free.

#include "glue.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <raft/uv.h>
#include <uv.h>

#include "_cgo_export.h"

// rc_transport wraps libraft's TCP transport so that a peer is always
// dialled at the address in this node's own peer list, looked up by id.
// libraft would otherwise dial the address in its replicated configuration,
// which comes from whichever node wrote it (the bootstrap entry, or a
// leader's snapshot), while raftcmp may give every node a different address
// for the same peer (a proxy per directed link).
struct rc_transport {
	struct raft_uv_transport base; // what raft_uv sees
	struct raft_uv_transport tcp;  // libraft's raft_uv_tcp
	rc_node *node;
	raft_uv_transport_close_cb close_cb;
	raft_uv_accept_cb accept_cb;
	int nodelay;
};

// rc_connect is one outgoing connection attempt, between libraft's request
// and the inner transport's; freed when the inner callback fires.
struct rc_connect {
	struct raft_uv_connect inner;
	struct raft_uv_connect *outer;
	raft_uv_connect_cb outer_cb;
	int nodelay;
	char *addr; // the address dialled, copied from the peer list
};

// RC_ASSIGN is the second step of RC_ADD, queued by the loop itself.
enum { RC_ASSIGN = 100 };

typedef struct rc_req {
	int kind;
	uintptr_t handle;
	struct raft_buffer buf;
	raft_id id;  // RC_ADD, RC_ASSIGN, RC_REMOVE: the server
	char *addr;  // RC_ADD: its address (malloc'd)
	rc_node *node;
	struct rc_req *next;
	union {
		struct raft_apply apply;
		struct raft_barrier barrier;
		struct raft_change change;
	} u;
} rc_req;

struct rc_node {
	uv_loop_t loop;
	uv_async_t async;
	uv_check_t check;
	struct rc_transport tr;
	struct raft_io io;
	struct raft_fsm fsm;
	struct raft raft;
	uintptr_t fsm_handle;

	pthread_mutex_t peers_mu; // guards the peer list, which SetPeers replaces
	unsigned n_peers;
	raft_id *peer_ids;
	char **peer_addrs;

	// Loop thread only (and rc_open before the loop runs).
	int closing;          // raft_close was called
	int started;          // raft_start returned: a restore now is an install
	int timing;           // an FSM snapshot is in progress in libraft
	uint64_t snap_start;  // uv_hrtime at its FSM snapshot call

	pthread_mutex_t mu; // guards the fields below
	rc_req *head, *tail;
	int stopping;
	rc_status st;
	uint64_t snapshots_taken, snapshots_restored, snapshots_installed, snapshot_ns;
};

// Live objects the glue allocated, for the leak test (rc_live).
static long live_nodes, live_reqs, live_connects;

long rc_live(int what)
{
	long *p = what == 0 ? &live_nodes : what == 1 ? &live_reqs : &live_connects;
	return __atomic_load_n(p, __ATOMIC_SEQ_CST);
}

static void set_err(char *errmsg, size_t errlen, const char *what, const char *detail)
{
	if (errmsg != NULL && errlen > 0) {
		snprintf(errmsg, errlen, "%s: %s", what, detail);
	}
}

/* The transport wrapper. */

static struct rc_transport *wrapper(struct raft_uv_transport *t) { return (struct rc_transport *)t->impl; }

static int rct_init(struct raft_uv_transport *t, raft_id id, const char *address)
{
	struct rc_transport *w = wrapper(t);
	w->tcp.data = t->data;
	int rv = w->tcp.init(&w->tcp, id, address);
	if (rv != 0) {
		memcpy(t->errmsg, w->tcp.errmsg, sizeof t->errmsg);
	}
	return rv;
}

// set_nodelay turns Nagle's algorithm off on a TCP stream.
static void set_nodelay(struct uv_stream_s *stream)
{
	if (stream != NULL && stream->type == UV_TCP) {
		uv_tcp_nodelay((uv_tcp_t *)stream, 1);
	}
}

static void rct_accepted(struct raft_uv_transport *inner, raft_id id, const char *address, struct uv_stream_s *stream)
{
	struct rc_transport *w = (struct rc_transport *)((char *)inner - offsetof(struct rc_transport, tcp));
	if (w->nodelay) {
		set_nodelay(stream);
	}
	w->accept_cb(inner, id, address, stream);
}

static void rct_connected(struct raft_uv_connect *req, struct uv_stream_s *stream, int status)
{
	struct rc_connect *c = req->data;
	if (status == 0 && c->nodelay) {
		set_nodelay(stream);
	}
	raft_uv_connect_cb cb = c->outer_cb;
	struct raft_uv_connect *outer = c->outer;
	free(c->addr);
	free(c);
	__atomic_sub_fetch(&live_connects, 1, __ATOMIC_SEQ_CST);
	cb(outer, stream, status);
}

static int rct_listen(struct raft_uv_transport *t, raft_uv_accept_cb cb)
{
	struct rc_transport *w = wrapper(t);
	// raft_uv's accept callback finds its state in the data of the
	// transport it is called with, which is the inner one.
	w->tcp.data = t->data;
	w->accept_cb = cb;
	int rv = w->tcp.listen(&w->tcp, rct_accepted);
	if (rv != 0) {
		memcpy(t->errmsg, w->tcp.errmsg, sizeof t->errmsg);
	}
	return rv;
}

static int rct_connect(struct raft_uv_transport *t, struct raft_uv_connect *req, raft_id id, const char *address,
		       raft_uv_connect_cb cb)
{
	struct rc_transport *w = wrapper(t);
	rc_node *n = w->node;
	(void)address; // the replicated configuration's address: not ours to dial
	char *addr = NULL;
	pthread_mutex_lock(&n->peers_mu);
	for (unsigned i = 0; i < n->n_peers; i++) {
		if (n->peer_ids[i] == id) {
			addr = strdup(n->peer_addrs[i]);
			if (addr == NULL) {
				pthread_mutex_unlock(&n->peers_mu);
				return RAFT_NOMEM;
			}
			break;
		}
	}
	pthread_mutex_unlock(&n->peers_mu);
	if (addr != NULL) {
		struct rc_connect *c = calloc(1, sizeof *c);
		if (c == NULL) {
			free(addr);
			return RAFT_NOMEM;
		}
		__atomic_add_fetch(&live_connects, 1, __ATOMIC_SEQ_CST);
		c->inner.data = c;
		c->outer = req;
		c->outer_cb = cb;
		c->nodelay = w->nodelay;
		c->addr = addr;
		w->tcp.data = t->data;
		int rv = w->tcp.connect(&w->tcp, &c->inner, id, addr, rct_connected);
		if (rv != 0) {
			free(c->addr);
			free(c);
			__atomic_sub_fetch(&live_connects, 1, __ATOMIC_SEQ_CST);
			memcpy(t->errmsg, w->tcp.errmsg, sizeof t->errmsg);
		}
		return rv;
	}
	snprintf(t->errmsg, sizeof t->errmsg, "no peer with id %llu in this node's peer list", id);
	return RAFT_NOCONNECTION;
}

static void rct_inner_closed(struct raft_uv_transport *inner)
{
	struct rc_transport *w = (struct rc_transport *)((char *)inner - offsetof(struct rc_transport, tcp));
	if (w->close_cb != NULL) {
		w->close_cb(&w->base);
	}
}

static void rct_close(struct raft_uv_transport *t, raft_uv_transport_close_cb cb)
{
	struct rc_transport *w = wrapper(t);
	w->close_cb = cb;
	w->tcp.close(&w->tcp, rct_inner_closed);
}

/* The state machine: the digest lives in Go (adapter.Digest). */

// An entry's data is the payload padded to a multiple of 8 bytes with 1 to
// 8 bytes, each holding the pad's length (as PKCS#7 pads to its block).
// libraft 0.15 needs entries whose length is a multiple of 8: raft_uv_tcp
// sends the entries of an AppendEntries back to back, unpadded
// (uvEncodeMessage), while the receiver finds each entry's data at the
// previous one's end rounded up to 8 bytes (uvDecodeEntriesBatch). An
// AppendEntries that carries several entries of other lengths (a follower
// catching up, concurrent proposals) is decoded at the wrong offsets and
// the follower applies garbage. Its disk log assumes the same: a node
// restarted on segments holding such entries fails to load them (header
// checksum mismatch). dqlite's commands are always padded to 8 bytes, so
// dqlite never meets it; raft.h does not say so.
static size_t padded_len(size_t len) { return len + (8 - len % 8); }

static int fsm_apply(struct raft_fsm *fsm, const struct raft_buffer *buf, void **result)
{
	rc_node *n = fsm->data;
	const unsigned char *b = buf->base;
	size_t pad = buf->len > 0 ? b[buf->len - 1] : 0;
	if (buf->len % 8 != 0 || pad < 1 || pad > 8) {
		return RAFT_MALFORMED;
	}
	GoUint64 pos = rcGoApply(n->fsm_handle, buf->base, buf->len - pad);
	*result = (void *)(uintptr_t)pos;
	return 0;
}

static void put_le64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++) {
		p[i] = (unsigned char)(v >> (8 * i));
	}
}

static uint64_t get_le64(const unsigned char *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--) {
		v = (v << 8) | p[i];
	}
	return v;
}

// fsm_snapshot writes the digest and the payload count (16 bytes, little
// endian); libraft frees both allocations (fsm version 1).
static int fsm_snapshot(struct raft_fsm *fsm, struct raft_buffer *bufs[], unsigned *n_bufs)
{
	rc_node *n = fsm->data;
	uint64_t sum = 0, count = 0;
	rcGoSnapshot(n->fsm_handle, &sum, &count);
	struct raft_buffer *b = raft_malloc(sizeof *b);
	if (b == NULL) {
		return RAFT_NOMEM;
	}
	b->base = raft_malloc(16);
	if (b->base == NULL) {
		raft_free(b);
		return RAFT_NOMEM;
	}
	b->len = 16;
	put_le64(b->base, sum);
	put_le64((unsigned char *)b->base + 8, count);
	*bufs = b;
	*n_bufs = 1;
	// libraft now stores it (snapshot_put) and compacts the log; until
	// then r->snapshot.pending.term is non-zero (refresh_status).
	n->timing = 1;
	n->snap_start = uv_hrtime();
	pthread_mutex_lock(&n->mu);
	n->snapshots_taken++;
	pthread_mutex_unlock(&n->mu);
	return 0;
}

// fsm_restore takes over buf's memory on success, as libraft hands it over.
// Before raft_start returned it is this node's own snapshot, loaded from
// disk; after, one installed from a leader.
static int fsm_restore(struct raft_fsm *fsm, struct raft_buffer *buf)
{
	rc_node *n = fsm->data;
	if (buf->len != 16) {
		return RAFT_MALFORMED;
	}
	rcGoRestore(n->fsm_handle, get_le64(buf->base), get_le64((unsigned char *)buf->base + 8));
	raft_free(buf->base);
	pthread_mutex_lock(&n->mu);
	if (n->started) {
		n->snapshots_installed++;
	} else {
		n->snapshots_restored++;
	}
	pthread_mutex_unlock(&n->mu);
	return 0;
}

/* Requests. */

static void complete(rc_req *req, int status, uint64_t pos)
{
	raft_id leader = 0;
	const char *addr = NULL;
	if (req->node->raft.state != RAFT_UNAVAILABLE) {
		raft_leader(&req->node->raft, &leader, &addr);
	}
	rcGoDone(req->handle, status, pos, leader);
	free(req->addr);
	free(req);
	__atomic_sub_fetch(&live_reqs, 1, __ATOMIC_SEQ_CST);
}

static void apply_cb(struct raft_apply *a, int status, void *result)
{
	complete(a->data, status, status == 0 ? (uint64_t)(uintptr_t)result : 0);
}

static void barrier_cb(struct raft_barrier *b, int status) { complete(b->data, status, 0); }

static void change_cb(struct raft_change *c, int status) { complete(c->data, status, 0); }

// enqueue puts req at the end of the queue and wakes the loop.
static void enqueue(rc_node *n, rc_req *req)
{
	req->next = NULL;
	if (n->tail == NULL) {
		n->head = req;
	} else {
		n->tail->next = req;
	}
	n->tail = req;
	// Sent under mu: rc_stop sets stopping under mu, and the loop closes
	// the handle only after it saw stopping, so no send follows the close.
	uv_async_send(&n->async);
}

// add_cb: the new server is in the configuration (as a spare); promote it
// to voter in a second change, from the queue, not from inside libraft's
// apply loop that called us.
static void add_cb(struct raft_change *c, int status)
{
	rc_req *req = c->data;
	rc_node *n = req->node;
	if (status != 0) {
		complete(req, status, 0);
		return;
	}
	req->kind = RC_ASSIGN;
	pthread_mutex_lock(&n->mu);
	enqueue(n, req);
	pthread_mutex_unlock(&n->mu);
}

static void submit(rc_node *n, rc_req *req)
{
	int rv;
	if (req->kind == RC_APPLY) {
		req->u.apply.data = req;
		struct raft_buffer buf = req->buf;
		rv = raft_apply(&n->raft, &req->u.apply, &buf, 1, apply_cb);
		if (rv != 0) {
			raft_free(req->buf.base);
		}
	} else if (req->kind == RC_BARRIER) {
		req->u.barrier.data = req;
		rv = raft_barrier(&n->raft, &req->u.barrier, barrier_cb);
	} else if (req->kind == RC_ADD) {
		req->u.change.data = req;
		rv = raft_add(&n->raft, &req->u.change, req->id, req->addr, add_cb);
		if (rv == RAFT_DUPLICATEID) {
			// Already in the configuration (a retry): promote it.
			req->kind = RC_ASSIGN;
			rv = 0;
			pthread_mutex_lock(&n->mu);
			enqueue(n, req);
			pthread_mutex_unlock(&n->mu);
		}
	} else if (req->kind == RC_ASSIGN) {
		req->u.change.data = req;
		rv = raft_assign(&n->raft, &req->u.change, req->id, RAFT_VOTER, change_cb);
		if (rv == RAFT_BADROLE) {
			// Already a voter.
			complete(req, 0, 0);
			return;
		}
	} else {
		req->u.change.data = req;
		rv = raft_remove(&n->raft, &req->u.change, req->id, change_cb);
		if (rv == RAFT_BADID) {
			// Not in the configuration (a retry).
			complete(req, 0, 0);
			return;
		}
	}
	if (rv != 0) {
		complete(req, rv, 0);
	}
}

static void refresh_status(rc_node *n)
{
	rc_status st;
	memset(&st, 0, sizeof st);
	const char *addr = NULL;
	st.state = raft_state(&n->raft);
	raft_leader(&n->raft, &st.leader, &addr);
	st.term = n->raft.current_term;
	st.commit = n->raft.commit_index;
	st.applied = raft_last_applied(&n->raft);
	st.last_index = raft_last_index(&n->raft);
	st.snapshot_index = n->raft.log.snapshot.last_index;
	uint64_t took = 0;
	if (n->timing && n->raft.snapshot.pending.term == 0) {
		n->timing = 0;
		took = uv_hrtime() - n->snap_start;
	}
	pthread_mutex_lock(&n->mu);
	n->snapshot_ns += took;
	st.snapshots_taken = n->snapshots_taken;
	st.snapshots_restored = n->snapshots_restored;
	st.snapshots_installed = n->snapshots_installed;
	st.snapshot_ns = n->snapshot_ns;
	n->st = st;
	pthread_mutex_unlock(&n->mu);
}

static void check_cb(uv_check_t *h) { refresh_status(h->data); }

static void handle_closed(uv_handle_t *h) { (void)h; }

static void raft_closed(struct raft *r)
{
	rc_node *n = r->data;
	raft_uv_close(&n->io);
	raft_uv_tcp_close(&n->tr.tcp);
	uv_close((uv_handle_t *)&n->async, handle_closed);
	uv_close((uv_handle_t *)&n->check, handle_closed);
}

static void async_cb(uv_async_t *h)
{
	rc_node *n = h->data;
	pthread_mutex_lock(&n->mu);
	rc_req *q = n->head;
	n->head = n->tail = NULL;
	int stopping = n->stopping;
	pthread_mutex_unlock(&n->mu);
	while (q != NULL) {
		rc_req *next = q->next;
		if (stopping || n->closing) {
			if (q->kind == RC_APPLY) {
				raft_free(q->buf.base);
			}
			complete(q, RC_STOPPED, 0); // frees q->addr
		} else {
			submit(n, q);
		}
		q = next;
	}
	if (stopping && !n->closing) {
		n->closing = 1;
		refresh_status(n);
		// raft_close fails the requests libraft holds (their callbacks
		// run with RAFT_SHUTDOWN or RAFT_LEADERSHIPLOST) before raft_closed.
		raft_close(&n->raft, raft_closed);
	}
}

/* Lifecycle. */

static void free_peers(rc_node *n)
{
	if (n->peer_addrs != NULL) {
		for (unsigned i = 0; i < n->n_peers; i++) {
			free(n->peer_addrs[i]);
		}
	}
	free(n->peer_addrs);
	free(n->peer_ids);
}

// drain runs the loop until every handle closed, then closes it; for the
// failure paths of rc_open.
static void drain(rc_node *n)
{
	uv_run(&n->loop, UV_RUN_DEFAULT);
	uv_loop_close(&n->loop);
}

static void raft_closed_on_error(struct raft *r)
{
	rc_node *n = r->data;
	raft_uv_close(&n->io);
	raft_uv_tcp_close(&n->tr.tcp);
}

rc_node *rc_open(const rc_config *cfg, char *errmsg, size_t errlen)
{
	rc_node *n = calloc(1, sizeof *n);
	if (n == NULL) {
		set_err(errmsg, errlen, "allocate node", "out of memory");
		return NULL;
	}
	__atomic_add_fetch(&live_nodes, 1, __ATOMIC_SEQ_CST);
	pthread_mutex_init(&n->mu, NULL);
	pthread_mutex_init(&n->peers_mu, NULL);
	n->fsm_handle = cfg->fsm;
	n->n_peers = cfg->n_peers;
	n->peer_ids = calloc(cfg->n_peers, sizeof *n->peer_ids);
	n->peer_addrs = calloc(cfg->n_peers, sizeof *n->peer_addrs);
	if (n->peer_ids == NULL || n->peer_addrs == NULL) {
		set_err(errmsg, errlen, "copy peers", "out of memory");
		goto err_free;
	}
	for (unsigned i = 0; i < cfg->n_peers; i++) {
		n->peer_ids[i] = cfg->peer_ids[i];
		n->peer_addrs[i] = strdup(cfg->peer_addrs[i]);
		if (n->peer_addrs[i] == NULL) {
			set_err(errmsg, errlen, "copy peers", "out of memory");
			goto err_free;
		}
	}

	int rv = uv_loop_init(&n->loop);
	if (rv != 0) {
		set_err(errmsg, errlen, "uv_loop_init", uv_strerror(rv));
		goto err_free;
	}
	rv = raft_uv_tcp_init(&n->tr.tcp, &n->loop);
	if (rv != 0) {
		set_err(errmsg, errlen, "raft_uv_tcp_init", raft_strerror(rv));
		goto err_loop;
	}
	n->tr.node = n;
	n->tr.nodelay = cfg->nodelay;
	n->tr.base.impl = &n->tr;
	n->tr.base.init = rct_init;
	n->tr.base.listen = rct_listen;
	n->tr.base.connect = rct_connect;
	n->tr.base.close = rct_close;

	rv = raft_uv_init(&n->io, &n->loop, cfg->dir, &n->tr.base);
	if (rv != 0) {
		set_err(errmsg, errlen, "raft_uv_init", n->io.errmsg[0] ? n->io.errmsg : raft_strerror(rv));
		raft_uv_tcp_close(&n->tr.tcp);
		goto err_loop;
	}
	if (cfg->connect_retry_ms != 0) {
		raft_uv_set_connect_retry_delay(&n->io, cfg->connect_retry_ms);
	}

	n->fsm.version = 1;
	n->fsm.data = n;
	n->fsm.apply = fsm_apply;
	n->fsm.snapshot = fsm_snapshot;
	n->fsm.restore = fsm_restore;

	rv = raft_init(&n->raft, &n->io, &n->fsm, cfg->id, cfg->address);
	if (rv != 0) {
		set_err(errmsg, errlen, "raft_init", n->raft.errmsg[0] ? n->raft.errmsg : raft_strerror(rv));
		raft_uv_close(&n->io);
		raft_uv_tcp_close(&n->tr.tcp);
		goto err_loop;
	}
	n->raft.data = n;
	if (cfg->election_ms != 0) {
		raft_set_election_timeout(&n->raft, cfg->election_ms);
	}
	if (cfg->heartbeat_ms != 0) {
		raft_set_heartbeat_timeout(&n->raft, cfg->heartbeat_ms);
	}
	if (cfg->install_snapshot_ms != 0) {
		// settings.go (install_snapshot_timeout) says why.
		raft_set_install_snapshot_timeout(&n->raft, cfg->install_snapshot_ms);
	}
	if (cfg->snapshot_threshold != 0) {
		raft_set_snapshot_threshold(&n->raft, cfg->snapshot_threshold);
	}
	if (cfg->snapshot_trailing != 0) {
		raft_set_snapshot_trailing(&n->raft, cfg->snapshot_trailing);
	}
	raft_set_pre_vote(&n->raft, cfg->pre_vote != 0);

	// Every member bootstraps the same membership (the ids), each with the
	// addresses it dials itself; the transport wrapper dials by id anyway.
	// A node with state already on disk refuses (RAFT_CANTBOOTSTRAP) and
	// recovers from it instead.
	// A joining node bootstraps nothing: it starts with an empty
	// configuration and learns one from the leader that adds it.
	if (!cfg->join) {
		struct raft_configuration conf;
		raft_configuration_init(&conf);
		for (unsigned i = 0; i < cfg->n_peers; i++) {
			rv = raft_configuration_add(&conf, cfg->peer_ids[i], cfg->peer_addrs[i], RAFT_VOTER);
			if (rv != 0) {
				raft_configuration_close(&conf);
				set_err(errmsg, errlen, "raft_configuration_add", raft_strerror(rv));
				goto err_raft;
			}
		}
		rv = raft_bootstrap(&n->raft, &conf);
		raft_configuration_close(&conf);
		if (rv != 0 && rv != RAFT_CANTBOOTSTRAP) {
			set_err(errmsg, errlen, "raft_bootstrap", n->raft.errmsg[0] ? n->raft.errmsg : raft_strerror(rv));
			goto err_raft;
		}
	}

	rv = raft_start(&n->raft);
	if (rv != 0) {
		set_err(errmsg, errlen, "raft_start", n->raft.errmsg[0] ? n->raft.errmsg : raft_strerror(rv));
		goto err_raft;
	}
	n->started = 1;
	uv_async_init(&n->loop, &n->async, async_cb);
	n->async.data = n;
	uv_check_init(&n->loop, &n->check);
	n->check.data = n;
	uv_check_start(&n->check, check_cb);
	refresh_status(n);
	return n;

err_raft:
	raft_close(&n->raft, raft_closed_on_error);
	drain(n);
	goto err_free;
err_loop:
	drain(n);
err_free:
	rc_free(n);
	return NULL;
}

int rc_run(rc_node *n)
{
	uv_run(&n->loop, UV_RUN_DEFAULT);
	return uv_loop_close(&n->loop);
}

int rc_submit(rc_node *n, int kind, uintptr_t handle, const void *data, size_t len)
{
	rc_req *req = calloc(1, sizeof *req);
	if (req == NULL) {
		return RAFT_NOMEM;
	}
	__atomic_add_fetch(&live_reqs, 1, __ATOMIC_SEQ_CST);
	req->kind = kind;
	req->handle = handle;
	req->node = n;
	if (kind == RC_APPLY) {
		size_t plen = padded_len(len);
		req->buf.base = raft_malloc(plen);
		if (req->buf.base == NULL) {
			free(req);
			__atomic_sub_fetch(&live_reqs, 1, __ATOMIC_SEQ_CST);
			return RAFT_NOMEM;
		}
		if (len > 0) {
			memcpy(req->buf.base, data, len);
		}
		memset((unsigned char *)req->buf.base + len, (int)(plen - len), plen - len);
		req->buf.len = plen;
	}
	pthread_mutex_lock(&n->mu);
	if (n->stopping) {
		pthread_mutex_unlock(&n->mu);
		if (kind == RC_APPLY) {
			raft_free(req->buf.base);
		}
		free(req);
		__atomic_sub_fetch(&live_reqs, 1, __ATOMIC_SEQ_CST);
		return RC_STOPPED;
	}
	enqueue(n, req);
	pthread_mutex_unlock(&n->mu);
	return 0;
}

int rc_change(rc_node *n, int kind, uintptr_t handle, raft_id id, const char *addr)
{
	if (kind != RC_ADD && kind != RC_REMOVE) {
		return RAFT_INVALID;
	}
	rc_req *req = calloc(1, sizeof *req);
	if (req == NULL) {
		return RAFT_NOMEM;
	}
	__atomic_add_fetch(&live_reqs, 1, __ATOMIC_SEQ_CST);
	req->kind = kind;
	req->handle = handle;
	req->node = n;
	req->id = id;
	if (kind == RC_ADD) {
		req->addr = strdup(addr);
		if (req->addr == NULL) {
			free(req);
			__atomic_sub_fetch(&live_reqs, 1, __ATOMIC_SEQ_CST);
			return RAFT_NOMEM;
		}
	}
	pthread_mutex_lock(&n->mu);
	if (n->stopping) {
		pthread_mutex_unlock(&n->mu);
		free(req->addr);
		free(req);
		__atomic_sub_fetch(&live_reqs, 1, __ATOMIC_SEQ_CST);
		return RC_STOPPED;
	}
	enqueue(n, req);
	pthread_mutex_unlock(&n->mu);
	return 0;
}

int rc_set_peers(rc_node *n, unsigned n_peers, const raft_id *ids, const char *const *addrs)
{
	raft_id *pids = calloc(n_peers > 0 ? n_peers : 1, sizeof *pids);
	char **paddrs = calloc(n_peers > 0 ? n_peers : 1, sizeof *paddrs);
	if (pids == NULL || paddrs == NULL) {
		free(pids);
		free(paddrs);
		return RAFT_NOMEM;
	}
	for (unsigned i = 0; i < n_peers; i++) {
		pids[i] = ids[i];
		paddrs[i] = strdup(addrs[i]);
		if (paddrs[i] == NULL) {
			for (unsigned j = 0; j < i; j++) {
				free(paddrs[j]);
			}
			free(pids);
			free(paddrs);
			return RAFT_NOMEM;
		}
	}
	pthread_mutex_lock(&n->peers_mu);
	unsigned old_n = n->n_peers;
	raft_id *old_ids = n->peer_ids;
	char **old_addrs = n->peer_addrs;
	n->n_peers = n_peers;
	n->peer_ids = pids;
	n->peer_addrs = paddrs;
	pthread_mutex_unlock(&n->peers_mu);
	for (unsigned i = 0; i < old_n; i++) {
		free(old_addrs[i]);
	}
	free(old_addrs);
	free(old_ids);
	return 0;
}

void rc_stop(rc_node *n)
{
	pthread_mutex_lock(&n->mu);
	if (!n->stopping) {
		n->stopping = 1;
		uv_async_send(&n->async);
	}
	pthread_mutex_unlock(&n->mu);
}

void rc_get_status(rc_node *n, rc_status *out)
{
	pthread_mutex_lock(&n->mu);
	*out = n->st;
	pthread_mutex_unlock(&n->mu);
}

void rc_free(rc_node *n)
{
	free_peers(n);
	pthread_mutex_destroy(&n->peers_mu);
	pthread_mutex_destroy(&n->mu);
	free(n);
	__atomic_sub_fetch(&live_nodes, 1, __ATOMIC_SEQ_CST);
}
