package testbed

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"net/netip"
	"strings"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// newKey makes an Ed25519 key pair: the private key in OpenSSH's PEM form
// (what sshd's HostKey and ssh -i read) and the public key. Generated in
// Go (golang.org/x/crypto/ssh), not by running ssh-keygen.
func newKey(comment string) ([]byte, ssh.PublicKey, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate key: %w", err)
	}
	block, err := ssh.MarshalPrivateKey(priv, comment)
	if err != nil {
		return nil, nil, fmt.Errorf("encode key: %w", err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		return nil, nil, fmt.Errorf("encode public key: %w", err)
	}
	return pem.EncodeToMemory(block), sshPub, nil
}

// knownHostsLine is the known_hosts line of a host key at addr:22.
func knownHostsLine(addr netip.Addr, key ssh.PublicKey) string {
	return knownhosts.Line([]string{knownhosts.Normalize(addr.String())}, key) + "\n"
}

// authorizedKeysLine authorizes the client key for root on one host, and
// for nothing but a session and forwarding (no agent or X11 forwarding).
func authorizedKeysLine(key ssh.PublicKey) []byte {
	return []byte("no-agent-forwarding,no-X11-forwarding " + string(ssh.MarshalAuthorizedKey(key)))
}

// sshdConfig is the host's sshd configuration: its address only, its own
// host key, root by key only, no PAM, forwarding of TCP and unix sockets
// allowed (the multi-host runner reaches plugin sockets that way).
func sshdConfig(name string, addr netip.Addr) []byte {
	lines := []string{
		"# sshd of raftcmp test host " + name + ", written by `raftcmp testbed up`.",
		"ListenAddress " + addr.String() + ":22",
		"HostKey " + hostSSHDir + "/" + hostKeyFile,
		"AuthorizedKeysFile " + hostSSHDir + "/" + authorizedKeysFile,
		"PidFile none",
		"AllowUsers root",
		"PermitRootLogin prohibit-password",
		"PubkeyAuthentication yes",
		"PasswordAuthentication no",
		"KbdInteractiveAuthentication no",
		"UsePAM no",
		"StrictModes yes",
		"AllowTcpForwarding yes",
		"AllowStreamLocalForwarding yes",
		"AllowAgentForwarding no",
		"X11Forwarding no",
		"PermitTunnel no",
		"PrintMotd no",
		"PrintLastLog no",
		"UseDNS no",
		"MaxSessions 64",
		"MaxStartups 64:30:128",
		"Subsystem sftp internal-sftp",
	}
	return []byte(strings.Join(lines, "\n") + "\n")
}
