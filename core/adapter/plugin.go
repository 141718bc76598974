package adapter

import (
	"context"
	"os"
	"runtime"
	"runtime/debug"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/raftcmp/raftcmp/core/adapter/adapterpb"
)

// ProtocolVersion is the version of the raftcmp plugin protocol. raftcmp
// refuses a plugin built against another version, with both named. Bump it
// on any incompatible change to adapter.proto or to the Node contract.
const ProtocolVersion = 3

// PluginName is the name under which a plugin process serves its Node.
const PluginName = "node"

// Handshake is the go-plugin handshake shared by raftcmp and its plugins.
// The cookie only stops a user from running a plugin binary by hand by
// mistake; it is not a security measure.
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  ProtocolVersion,
	MagicCookieKey:   "RAFTCMP_PLUGIN",
	MagicCookieValue: "raft-node-adapter",
}

// Serve hosts n as a raftcmp plugin and blocks until raftcmp ends the
// process. Call it from a plugin's main and nothing else.
func Serve(n Node) {
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: Handshake,
		VersionedPlugins: map[int]plugin.PluginSet{
			ProtocolVersion: {PluginName: &nodePlugin{impl: n}},
		},
		GRPCServer: func(opts []grpc.ServerOption) *grpc.Server {
			return grpc.NewServer(append(opts, grpc.MaxRecvMsgSize(maxMessageBytes), grpc.MaxSendMsgSize(maxMessageBytes))...)
		},
		Logger: hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: os.Stderr, JSONFormat: true}),
	})
}

// ClientPlugins is the plugin set raftcmp dispenses from a plugin process.
func ClientPlugins() map[int]plugin.PluginSet {
	return map[int]plugin.PluginSet{ProtocolVersion: {PluginName: &nodePlugin{}}}
}

// GRPCDialOptions are the dial options raftcmp uses for plugin connections.
func GRPCDialOptions() []grpc.DialOption {
	return []grpc.DialOption{grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxMessageBytes), grpc.MaxCallSendMsgSize(maxMessageBytes))}
}

// maxMessageBytes bounds one gRPC message: a proposal payload (see
// MaxPayloadBytes) or a load result with its histogram and time series.
const maxMessageBytes = 64 << 20

// MaxPayloadBytes is the largest proposal raftcmp sends (experiment.MaxPayloadBytes).
const MaxPayloadBytes = 1 << 20

// nodePlugin is the go-plugin glue: server side it hosts impl, client side
// it returns a *Client.
type nodePlugin struct {
	plugin.NetRPCUnsupportedPlugin
	impl Node
}

func (p *nodePlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	adapterpb.RegisterNodeServer(s, &server{impl: p.impl, desc: describe(p.impl)})
	return nil
}

func (p *nodePlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return &Client{rpc: adapterpb.NewNodeClient(c)}, nil
}

// describe completes n's Description with what only the running process
// knows: its PID, toolchain and the version of the wrapped library, which
// it looks up in the build info unless the backend gave it (a library
// that is not a Go module, linked through cgo, reports its own).
func describe(n Node) Description {
	d := n.Describe()
	d.PID = os.Getpid()
	d.GoVersion = runtime.Version()
	if d.Version == "" {
		d.Version = moduleVersion(d.Module)
	}
	return d
}

// moduleVersion finds module's version in the running binary's build info;
// "(devel)" for the main module, "unknown" if it is not linked in.
func moduleVersion(module string) string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	if info.Main.Path == module {
		return info.Main.Version
	}
	for _, dep := range info.Deps {
		if dep.Path != module {
			continue
		}
		if dep.Replace != nil {
			return dep.Replace.Version + " (replaces " + dep.Version + ")"
		}
		return dep.Version
	}
	return "unknown"
}
