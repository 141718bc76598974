package hosts

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// fixture makes a directory with a key, a known_hosts file and a home with
// ~/.ssh/known_hosts, and returns it and the environment to parse in.
func fixture(t *testing.T) (string, Environment) {
	t.Helper()
	dir := t.TempDir()
	home := filepath.Join(dir, "home")
	for _, f := range []string{"id_ed25519", "known_hosts", "home/.ssh/known_hosts", "home/.ssh/id_rsa"} {
		p := filepath.Join(dir, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir, Environment{User: "alice", Home: home}
}

func TestParse(t *testing.T) {
	dir, env := fixture(t)
	home := env.Home
	tests := []struct {
		name string
		src  string
		want []Host
	}{
		{"defaults applied", `
hosts:
  - ssh: 10.0.0.1
    dir: /var/lib/raftcmp
`, []Host{{Name: "10.0.0.1", SSH: "10.0.0.1:22", User: "alice", KnownHosts: home + "/.ssh/known_hosts", Dir: "/var/lib/raftcmp", DataAddr: "10.0.0.1", Line: 3}}},
		{"everything explicit", `
hosts:
  - name: n1
    ssh: a.example.org:2222
    user: root
    key: id_ed25519
    known_hosts: ` + dir + `/known_hosts
    dir: /srv/raftcmp
    data_addr: 192.168.7.1
`, []Host{{Name: "n1", SSH: "a.example.org:2222", User: "root", Key: dir + "/id_ed25519", KnownHosts: dir + "/known_hosts", Dir: "/srv/raftcmp", DataAddr: "192.168.7.1", Line: 3}}},
		{"defaults block, a host overrides", `
defaults:
  user: bench
  key: ~/.ssh/id_rsa
  known_hosts: insecure-accept-any
  dir: /data/raftcmp
hosts:
  - {name: a, ssh: "[fd00::1]:22"}
  - {name: b, ssh: "fd00::2", key: agent, dir: /other/raftcmp}
`, []Host{
			{Name: "a", SSH: "[fd00::1]:22", User: "bench", Key: home + "/.ssh/id_rsa", InsecureAcceptAny: true, Dir: "/data/raftcmp", DataAddr: "fd00::1", Line: 8},
			{Name: "b", SSH: "[fd00::2]:22", User: "bench", InsecureAcceptAny: true, Dir: "/other/raftcmp", DataAddr: "fd00::2", Line: 9},
		}},
		{"IPv6 default name", `
hosts:
  - {ssh: "[fd00::1]:2200", dir: /a/b}
`, []Host{{Name: "fd00--1", SSH: "[fd00::1]:2200", User: "alice", KnownHosts: home + "/.ssh/known_hosts", Dir: "/a/b", DataAddr: "fd00::1", Line: 3}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse(filepath.Join(dir, "hosts.yaml"), []byte(tt.src), env)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(f.Hosts, tt.want) {
				t.Errorf("got  %+v\nwant %+v", f.Hosts, tt.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	dir, env := fixture(t)
	tests := []struct {
		name string
		src  string
		env  *Environment
		want string // the whole message after "DIR/h.yaml:"
	}{
		{"empty file", "", nil, "1: no hosts"},
		{"no hosts", "defaults: {dir: /a/b}\n", nil, "1: hosts: no hosts: want at least one"},
		{"empty list", "hosts: []\n", nil, "1: hosts: no hosts"},
		{"top level list", "- ssh: a\n", nil, "1: want a mapping with the keys defaults, hosts"},
		{"unknown top key", "hosts: []\nport: 22\n", nil, "2: port: unknown key (want defaults, hosts)"},
		{"unknown host key", "hosts:\n  - ssh: a\n    dir: /a/b\n    port: 22\n", nil, "4: host 1: port: unknown key"},
		{"name in defaults", "defaults:\n  name: x\nhosts: [{ssh: a, dir: /a/b}]\n", nil, "2: defaults: name: unknown key"},
		{"repeated key", "hosts:\n  - ssh: a\n    ssh: b\n", nil, "3: host 1: ssh: given twice (first on line 2)"},
		{"list value", "hosts:\n  - ssh: [a, b]\n", nil, "2: host 1: ssh: want a single value"},
		{"empty value", "hosts:\n  - ssh:\n    dir: /a/b\n", nil, "2: host 1: ssh: want a single value"},
		{"host not a mapping", "hosts:\n  - a.example.org\n", nil, "2: host 1: want a mapping"},
		{"missing ssh", "hosts:\n  - dir: /a/b\n", nil, "2: host 1: ssh: missing"},
		{"bad port", "hosts:\n  - {ssh: \"a:99999\", dir: /a/b}\n", nil, `2: host 1: ssh "a:99999": port "99999": want 1..65535`},
		{"user in ssh", "hosts:\n  - {ssh: root@a, dir: /a/b}\n", nil, `2: host 1: ssh "root@a": no user@ here`},
		{"bad host", "hosts:\n  - {ssh: \"a b\", dir: /a/b}\n", nil, `2: host 1: ssh "a b": want an IP address or a host name`},
		{"missing dir", "hosts:\n  - ssh: a\n", nil, "2: host 1: dir: missing"},
		{"relative dir", "hosts:\n  - {ssh: a, dir: raftcmp}\n", nil, `2: host 1: dir "raftcmp": want an absolute path`},
		{"top-level dir", "hosts:\n  - {ssh: a, dir: /tmp}\n", nil, `2: host 1: dir "/tmp": want a directory of raftcmp's own`},
		{"unclean dir", "hosts:\n  - {ssh: a, dir: /a/../b/c}\n", nil, `2: host 1: dir "/a/../b/c": want the clean form /b/c`},
		{"bad dir in defaults", "defaults:\n  dir: /\nhosts:\n  - ssh: a\n", nil, `2: host 1: dir "/"`},
		{"missing key file", "hosts:\n  - {ssh: a, dir: /a/b, key: nokey}\n", nil, `2: host 1: key "nokey": ` + dir + `/nokey does not exist`},
		{"key is a dir", "hosts:\n  - {ssh: a, dir: /a/b, key: home}\n", nil, `2: host 1: key "home": ` + dir + `/home is not a file`},
		{"missing known_hosts", "hosts:\n  - {ssh: a, dir: /a/b, known_hosts: /no/such}\n", nil, `2: host 1: known_hosts "/no/such": /no/such does not exist (want a known_hosts file, or insecure-accept-any)`},
		{"no default known_hosts", "hosts:\n  - {ssh: a, dir: /a/b}\n", &Environment{User: "u", Home: dir}, "2: host 1: known_hosts: missing, and the default ~/.ssh/known_hosts: " + dir + "/.ssh/known_hosts does not exist"},
		{"unknown local user", "hosts:\n  - {ssh: a, dir: /a/b}\n", &Environment{Home: env.Home}, "2: host 1: user: missing, and the local user is unknown"},
		{"bad user", "hosts:\n  - {ssh: a, dir: /a/b, user: \"a b\"}\n", nil, `2: host 1: user "a b": want a user name`},
		{"bad name", "hosts:\n  - {ssh: a, dir: /a/b, name: \"-x\"}\n", nil, `2: host 1: name "-x": want 1..63 letters`},
		{"data_addr with port", "hosts:\n  - {ssh: a, dir: /a/b, data_addr: \"10.0.0.1:80\"}\n", nil, `2: host 1: data_addr "10.0.0.1:80": want an IP address or a host name (want an address without a port`},
		{"duplicate name", "hosts:\n  - {ssh: a, dir: /a/b, name: x}\n  - {ssh: b, dir: /a/b, name: x}\n", nil, `3: host 2: name "x": already used by the host on line 2`},
		{"duplicate ssh", "hosts:\n  - {ssh: a, dir: /a/b}\n  - {ssh: \"a:22\", dir: /a/b, name: y}\n", nil, `3: host 2: ssh "a:22": already used by the host on line 2`},
		{"syntax", "hosts:\n  - ssh: a\n\tdir: /a/b\n", nil, "2: found a tab character that violates indentation"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := env
			if tt.env != nil {
				e = *tt.env
			}
			path := filepath.Join(dir, "h.yaml")
			_, err := Parse(path, []byte(tt.src), e)
			if err == nil {
				t.Fatalf("accepted:\n%s", tt.src)
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") {
				t.Errorf("error spans lines: %q", msg)
			}
			if !strings.HasPrefix(msg, path+":") || !strings.Contains(msg, tt.want) {
				t.Errorf("error %q\nwant %s:%s...", msg, path, tt.want)
			}
		})
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	dir, env := fixture(t)
	in := []Host{
		{Name: "h1", SSH: "198.18.7.2:22", User: "root", Key: dir + "/id_ed25519", KnownHosts: dir + "/known_hosts", Dir: "/srv/raftcmp", DataAddr: "198.18.7.2"},
		{Name: "h2", SSH: "[fd00::2]:2222", User: "root", InsecureAcceptAny: true, Dir: "/srv/raftcmp", DataAddr: "10.1.1.1"},
	}
	b, err := Marshal(in, "made by a test\nsecond line")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(b), "# made by a test\n# second line\nhosts:\n") {
		t.Errorf("header missing:\n%s", b)
	}
	f, err := Parse(filepath.Join(dir, "out.yaml"), b, env)
	if err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	for i := range f.Hosts {
		f.Hosts[i].Line = 0
	}
	if !reflect.DeepEqual(f.Hosts, in) {
		t.Errorf("round trip:\ngot  %+v\nwant %+v\n%s", f.Hosts, in, b)
	}
}

func TestPlace(t *testing.T) {
	hs := []Host{{Name: "a"}, {Name: "b"}, {Name: "c"}}
	tests := []struct {
		name   string
		hosts  int
		nodes  int
		want   []string // host of node 1..N
		shared []Share
		text   string
	}{
		{"one each", 3, 3, []string{"a", "b", "c"}, nil, "each node on its own host"},
		{"more hosts", 3, 2, []string{"a", "b"}, nil, "each node on its own host"},
		{"one host", 1, 3, []string{"a", "a", "a"}, []Share{{"a", []int{1, 2, 3}}}, "nodes 1, 2 and 3 share host a"},
		{"round robin", 2, 5, []string{"a", "b", "a", "b", "a"}, []Share{{"a", []int{1, 3, 5}}, {"b", []int{2, 4}}}, "nodes 1, 3 and 5 share host a; nodes 2 and 4 share host b"},
		{"one shared", 3, 4, []string{"a", "b", "c", "a"}, []Share{{"a", []int{1, 4}}}, "nodes 1 and 4 share host a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Place(hs[:tt.hosts], tt.nodes)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for id := 1; id <= p.Nodes(); id++ {
				got = append(got, p.Host(id).Name)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("hosts %v, want %v", got, tt.want)
			}
			if !reflect.DeepEqual(p.Shared(), tt.shared) {
				t.Errorf("shared %v, want %v", p.Shared(), tt.shared)
			}
			if p.String() != tt.text {
				t.Errorf("text %q, want %q", p.String(), tt.text)
			}
		})
	}
	if _, err := Place(nil, 3); err == nil {
		t.Error("no hosts accepted")
	}
	if _, err := Place(hs, 0); err == nil {
		t.Error("0 nodes accepted")
	}
}
