package etcd

// Waiting is how many proposals wait for their entries to be applied; tests
// use it to wait for a proposal to be in flight.
func (n *Node) Waiting() int {
	r := n.r.Load()
	if r == nil {
		return 0
	}
	r.waiters.mu.Lock()
	defer r.waiters.mu.Unlock()
	return len(r.waiters.m)
}
