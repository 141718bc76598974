// Package hosts reads and checks a hosts file (docs/hosts.md, "The hosts
// file"): the machines a run places its nodes on, how raftcmp reaches each
// over SSH and verifies it, and the directory it may use there. The file is
// an ordered list: node i runs on host i, and Place says which nodes share
// a host when there are fewer hosts than nodes.
//
// This package parses and validates only; it opens no connection.
package hosts

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Special values of the key and known_hosts keys.
const (
	// Agent, as a host's key, authenticates with the keys of the SSH agent
	// ($SSH_AUTH_SOCK). It is the default.
	Agent = "agent"
	// InsecureAcceptAny, as a host's known_hosts, accepts whatever host key
	// the host presents. Never a default: it must be named.
	InsecureAcceptAny = "insecure-accept-any"
)

// DefaultPort is the SSH port of an address that names none.
const DefaultPort = 22

// Host is one entry of a hosts file, with the defaults applied and every
// path absolute.
type Host struct {
	// Name identifies the host in rows, reports and errors; unique in the
	// file. Default: the host part of SSH.
	Name string
	// SSH is the address raftcmp's SSH client dials: HOST:PORT, the port
	// always present.
	SSH string
	// User is the remote user. Default: the local user, as ssh does.
	User string
	// Key is the private key file; "" means the SSH agent.
	Key string
	// KnownHosts is the known_hosts file the host's key is verified
	// against; "" only when InsecureAcceptAny is set. Default:
	// ~/.ssh/known_hosts.
	KnownHosts string
	// InsecureAcceptAny disables host key verification for this host.
	InsecureAcceptAny bool
	// Dir is the absolute directory raftcmp may create, fill and remove on
	// the host. Required: raftcmp deletes what it made there.
	Dir string
	// DataAddr is the address the nodes use between each other (the data
	// network), without a port. Default: the host part of SSH.
	DataAddr string
	// Line is the line of the host's entry in the file (0 if not read from
	// a file).
	Line int
}

// SSHHost is the host part of SSH.
func (h Host) SSHHost() string {
	host, _, _ := net.SplitHostPort(h.SSH)
	return host
}

// File is a parsed and validated hosts file.
type File struct {
	// Path is the file's path as given.
	Path string
	// Hosts in file order: node i runs on Hosts[i-1].
	Hosts []Host
}

// Keys a host entry accepts; defaultKeys are those the defaults mapping
// accepts (the ones that make sense for every host alike).
var (
	hostKeys    = []string{"name", "ssh", "user", "key", "known_hosts", "dir", "data_addr"}
	defaultKeys = []string{"user", "key", "known_hosts", "dir"}
)

// Environment is what defaults depend on: the local user and home. Tests
// replace it; LocalEnvironment is the real one.
type Environment struct {
	User string // local user name
	Home string // local home directory ("" = ~ cannot be used)
}

// LocalEnvironment is the environment of this process.
func LocalEnvironment() Environment {
	var e Environment
	if u, err := user.Current(); err == nil {
		e.User = u.Username
	} else {
		e.User = os.Getenv("USER")
	}
	e.Home, _ = os.UserHomeDir()
	return e
}

// Load reads and validates a hosts file in the local environment.
func Load(path string) (*File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read hosts file: %w", err)
	}
	return Parse(path, b, LocalEnvironment())
}

// Parse decodes and validates a hosts file's contents. path names the file
// in errors, and relative paths in it are relative to path's directory.
// Every error is one line, "PATH:LINE: host N: KEY ...: what is allowed".
// Key and known_hosts files must exist.
func Parse(path string, b []byte, env Environment) (*File, error) {
	p := parser{path: path, env: env, base: filepath.Dir(path)}
	return p.parse(b)
}

type parser struct {
	path string
	base string // directory relative paths start from
	env  Environment
}

// entry is one mapping's scalar values with their lines.
type entry struct {
	line   int
	values map[string]*yaml.Node
}

func (p *parser) errf(line int, format string, args ...any) error {
	return fmt.Errorf("%s:%d: %s", p.path, line, fmt.Sprintf(format, args...))
}

func (p *parser) parse(b []byte) (*File, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		// "yaml: line 2: did not find ..." becomes "PATH:2: did not find ...".
		msg := strings.ReplaceAll(strings.TrimPrefix(err.Error(), "yaml: "), "\n", "; ")
		var line int
		if _, err := fmt.Sscanf(msg, "line %d:", &line); err == nil {
			return nil, p.errf(line, "%s", strings.TrimSpace(msg[strings.Index(msg, ":")+1:]))
		}
		return nil, fmt.Errorf("%s: %s", p.path, msg)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil, p.errf(1, "no hosts: want a mapping with a hosts list")
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, p.errf(root.Line, "want a mapping with the keys defaults, hosts")
	}
	var defaults entry
	var list *yaml.Node
	seen := map[string]int{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if l, dup := seen[k.Value]; dup {
			return nil, p.errf(k.Line, "%s: given twice (first on line %d)", k.Value, l)
		}
		seen[k.Value] = k.Line
		switch k.Value {
		case "defaults":
			e, err := p.mapping(v, "defaults", defaultKeys)
			if err != nil {
				return nil, err
			}
			defaults = e
		case "hosts":
			if v.Kind != yaml.SequenceNode {
				return nil, p.errf(v.Line, "hosts: want a list of hosts")
			}
			list = v
		default:
			return nil, p.errf(k.Line, "%s: unknown key (want defaults, hosts)", k.Value)
		}
	}
	if list == nil || len(list.Content) == 0 {
		line := root.Line
		if list != nil {
			line = list.Line
		}
		return nil, p.errf(line, "hosts: no hosts: want at least one")
	}
	f := &File{Path: p.path}
	names := map[string]int{}
	addrs := map[string]int{}
	for i, n := range list.Content {
		where := fmt.Sprintf("host %d", i+1)
		e, err := p.mapping(n, where, hostKeys)
		if err != nil {
			return nil, err
		}
		h, err := p.host(where, e, defaults)
		if err != nil {
			return nil, err
		}
		if l, dup := names[h.Name]; dup {
			return nil, p.errf(e.lineOf("name"), "%s: name %q: already used by the host on line %d; names must be unique", where, h.Name, l)
		}
		names[h.Name] = h.Line
		if l, dup := addrs[h.SSH]; dup {
			return nil, p.errf(e.lineOf("ssh"), "%s: ssh %q: already used by the host on line %d; one entry per host (with fewer hosts than nodes, nodes share hosts by themselves)", where, h.SSH, l)
		}
		addrs[h.SSH] = h.Line
		f.Hosts = append(f.Hosts, h)
	}
	return f, nil
}

// mapping reads a mapping of scalars, refusing unknown and repeated keys.
func (p *parser) mapping(n *yaml.Node, where string, allowed []string) (entry, error) {
	e := entry{line: n.Line, values: map[string]*yaml.Node{}}
	if n.Kind != yaml.MappingNode {
		return e, p.errf(n.Line, "%s: want a mapping with the keys %s", where, strings.Join(allowed, ", "))
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if !slices.Contains(allowed, k.Value) {
			return e, p.errf(k.Line, "%s: %s: unknown key (want %s)", where, k.Value, strings.Join(allowed, ", "))
		}
		if prev, dup := e.values[k.Value]; dup {
			return e, p.errf(k.Line, "%s: %s: given twice (first on line %d)", where, k.Value, prev.Line)
		}
		if v.Kind != yaml.ScalarNode || v.Tag == "!!null" {
			return e, p.errf(v.Line, "%s: %s: want a single value", where, k.Value)
		}
		e.values[k.Value] = v
	}
	return e, nil
}

// get is a key's value and line: from the entry, else from defaults;
// ok false if neither has it.
func (e entry) get(defaults entry, key string) (val string, line int, ok bool) {
	if v, ok := e.values[key]; ok {
		return v.Value, v.Line, true
	}
	if v, ok := defaults.values[key]; ok {
		return v.Value, v.Line, true
	}
	return "", e.line, false
}

// lineOf is the line of key in the entry, or of the entry itself.
func (e entry) lineOf(key string) int {
	if v, ok := e.values[key]; ok {
		return v.Line
	}
	return e.line
}

var (
	nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)
	userRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*\$?$`)
	// hostRE is a DNS name (an IP address is checked with netip).
	hostRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$`)
)

// host applies defaults to one entry and checks every value.
func (p *parser) host(where string, e, defaults entry) (Host, error) {
	h := Host{Line: e.line}

	raw, line, ok := e.get(defaults, "ssh")
	if !ok {
		return h, p.errf(line, "%s: ssh: missing: want the address raftcmp dials, HOST or HOST:PORT", where)
	}
	addr, err := parseSSHAddr(raw)
	if err != nil {
		return h, p.errf(line, "%s: ssh %q: %v", where, raw, err)
	}
	h.SSH = addr

	h.Name = h.SSHHost()
	if raw, line, ok := e.get(defaults, "name"); ok {
		if !nameRE.MatchString(raw) {
			return h, p.errf(line, "%s: name %q: want 1..63 letters, digits, '.', '_' or '-', starting with a letter or digit", where, raw)
		}
		h.Name = raw
	} else if !nameRE.MatchString(h.Name) { // an IPv6 address as the default name
		h.Name = strings.NewReplacer(":", "-", "%", "-").Replace(h.Name)
	}

	h.User = p.env.User
	if raw, line, ok := e.get(defaults, "user"); ok {
		if !userRE.MatchString(raw) {
			return h, p.errf(line, "%s: user %q: want a user name (letters, digits, '_', '.', '-')", where, raw)
		}
		h.User = raw
	} else if h.User == "" {
		return h, p.errf(line, "%s: user: missing, and the local user is unknown: name the remote user", where)
	}

	if raw, line, ok := e.get(defaults, "key"); ok && raw != Agent {
		path, err := p.file(raw)
		if err != nil {
			return h, p.errf(line, "%s: key %q: %v (want a private key file, or %s)", where, raw, err, Agent)
		}
		h.Key = path
	}

	raw, line, ok = e.get(defaults, "known_hosts")
	switch {
	case ok && raw == InsecureAcceptAny:
		h.InsecureAcceptAny = true
	case ok:
		path, err := p.file(raw)
		if err != nil {
			return h, p.errf(line, "%s: known_hosts %q: %v (want a known_hosts file, or %s)", where, raw, err, InsecureAcceptAny)
		}
		h.KnownHosts = path
	default:
		path, err := p.file("~/.ssh/known_hosts")
		if err != nil {
			return h, p.errf(line, "%s: known_hosts: missing, and the default ~/.ssh/known_hosts: %v; name a known_hosts file (or %s)", where, err, InsecureAcceptAny)
		}
		h.KnownHosts = path
	}

	raw, line, ok = e.get(defaults, "dir")
	if !ok {
		return h, p.errf(line, "%s: dir: missing: want the absolute directory raftcmp may create and remove on the host, e.g. /var/lib/raftcmp", where)
	}
	if err := checkDir(raw); err != nil {
		return h, p.errf(line, "%s: dir %q: %v", where, raw, err)
	}
	h.Dir = raw

	h.DataAddr = h.SSHHost()
	if raw, line, ok := e.get(defaults, "data_addr"); ok {
		if err := checkHost(raw); err != nil {
			return h, p.errf(line, "%s: data_addr %q: %v (want an address without a port: the nodes choose their ports)", where, raw, err)
		}
		h.DataAddr = raw
	}
	return h, nil
}

// file resolves a path of the file (~/ is the local home, relative paths
// start at the file's directory) and checks that it is a readable file.
func (p *parser) file(raw string) (string, error) {
	path := raw
	switch {
	case path == "":
		return "", errors.New("empty path")
	case path == "~" || strings.HasPrefix(path, "~/"):
		if p.env.Home == "" {
			return "", errors.New("~ used, but the local home directory is unknown")
		}
		path = filepath.Join(p.env.Home, path[1:])
	case !filepath.IsAbs(path):
		path = filepath.Join(p.base, path)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	fi, err := os.Stat(abs)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("%s does not exist", abs)
		}
		return "", err
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("%s is not a file", abs)
	}
	return abs, nil
}

// parseSSHAddr checks HOST, HOST:PORT, [IPv6]:PORT or a bare IPv6 address
// and returns HOST:PORT.
func parseSSHAddr(s string) (string, error) {
	if strings.Contains(s, "@") {
		return "", errors.New("no user@ here: the user goes in the user key")
	}
	host, port := s, strconv.Itoa(DefaultPort)
	if h, p, err := net.SplitHostPort(s); err == nil {
		host, port = h, p
	} else if _, err := netip.ParseAddr(strings.Trim(s, "[]")); err == nil {
		host = strings.Trim(s, "[]")
	} else if strings.Contains(s, ":") {
		return "", errors.New("want HOST or HOST:PORT ([ADDR]:PORT for IPv6)")
	}
	if err := checkHost(host); err != nil {
		return "", err
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("port %q: want 1..65535", port)
	}
	return net.JoinHostPort(host, port), nil
}

// checkHost accepts an IP address or a DNS name, without a port.
func checkHost(s string) error {
	if _, err := netip.ParseAddr(s); err == nil {
		return nil
	}
	if s == "" {
		return errors.New("empty host")
	}
	if len(s) > 253 || !hostRE.MatchString(s) {
		return errors.New("want an IP address or a host name")
	}
	return nil
}

// checkDir accepts an absolute, clean directory below the top level: raftcmp
// removes what it made there, so "/" or "/tmp" are refused.
func checkDir(s string) error {
	if !filepath.IsAbs(s) {
		return errors.New("want an absolute path on the host")
	}
	if filepath.Clean(s) != s {
		return fmt.Errorf("want the clean form %s", filepath.Clean(s))
	}
	if strings.Count(s, "/") < 2 {
		return errors.New("want a directory of raftcmp's own below the top level (e.g. /var/lib/raftcmp): raftcmp removes what it made there")
	}
	return nil
}

// fileForm is the YAML form Marshal writes.
type fileForm struct {
	Hosts []hostForm `yaml:"hosts"`
}

type hostForm struct {
	Name       string `yaml:"name"`
	SSH        string `yaml:"ssh"`
	User       string `yaml:"user"`
	Key        string `yaml:"key"`
	KnownHosts string `yaml:"known_hosts"`
	Dir        string `yaml:"dir"`
	DataAddr   string `yaml:"data_addr,omitempty"`
}

// Marshal writes hosts as a hosts file that Parse reads back to the same
// hosts, every key explicit. header, if not empty, becomes a comment at the
// top (one "# " line per line).
func Marshal(hs []Host, header string) ([]byte, error) {
	var form fileForm
	for _, h := range hs {
		hf := hostForm{Name: h.Name, SSH: h.SSH, User: h.User, Key: h.Key, KnownHosts: h.KnownHosts, Dir: h.Dir, DataAddr: h.DataAddr}
		if h.Key == "" {
			hf.Key = Agent
		}
		if h.InsecureAcceptAny {
			hf.KnownHosts = InsecureAcceptAny
		}
		form.Hosts = append(form.Hosts, hf)
	}
	var buf bytes.Buffer
	if header != "" {
		for _, l := range strings.Split(strings.TrimRight(header, "\n"), "\n") {
			buf.WriteString(strings.TrimRight("# "+l, " ") + "\n")
		}
	}
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(form); err != nil {
		return nil, fmt.Errorf("encode hosts file: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encode hosts file: %w", err)
	}
	return buf.Bytes(), nil
}
