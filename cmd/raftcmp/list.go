package main

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/raftcmp/raftcmp/core/adapter"
	"github.com/raftcmp/raftcmp/core/cluster"
	"github.com/raftcmp/raftcmp/core/experiment"
)

func listCommand() *cli.Command {
	return &cli.Command{
		Name:  "list",
		Usage: "show the backend plugins found, their library versions and capabilities",
		Description: "Each plugin is checked as run checks it (its checksum manifest, unless --insecure-plugin names\n" +
			"it) before it is started to describe itself; a refused plugin is shown with the reason, not started.",
		Flags: []cli.Flag{pluginDirFlag(), insecurePluginFlag(),
			&cli.StringFlag{Name: "impl", Usage: "only these backends, comma-separated (default: every plugin found)"},
			&cli.BoolFlag{Name: "settings", Usage: "print each backend's settings instead: every value a comparison depends on, with its source"},
			&cli.StringFlag{Name: "raft", Value: adapter.ProfileProduction, Usage: "with --settings: the shared Raft knobs to resolve, as run's --raft takes them"},
			&cli.StringFlag{Name: "storage", Value: string(adapter.StorageDisk), Usage: "with --settings: the storage mode to resolve them for"},
			&cli.StringFlag{Name: "format", Value: "text", Usage: "with --settings: text or markdown (the tables of docs/backends.md)"},
			&cli.BoolFlag{Name: "knobs", Usage: "with --settings --format markdown: only the shared knobs, side by side"},
		},
		Action: func(c *cli.Context) error {
			src := pluginSourceOf(c)
			plugins, refusals := src.discover()
			if len(plugins) == 0 {
				return cli.Exit(fmt.Sprintf("no plugins found (looked in %s); run make", strings.Join(src.dirs, ", ")), 1)
			}
			if only := experiment.ParseImpls(c.String("impl")); len(only) > 0 {
				// In --impl's order, as run reports them.
				var kept []cluster.Plugin
				var keptRefusals []error
				for _, name := range only {
					i := slices.IndexFunc(plugins, func(p cluster.Plugin) bool { return p.Name == name })
					if i < 0 {
						return cli.Exit(fmt.Sprintf("--impl %q: no plugin %s found (looked in %s)", c.String("impl"), name, strings.Join(src.dirs, ", ")), 2)
					}
					kept, keptRefusals = append(kept, plugins[i]), append(keptRefusals, refusals[i])
				}
				plugins, refusals = kept, keptRefusals
			}
			if c.Bool("settings") {
				return listSettings(c, plugins, refusals)
			}
			tw := tabwriter.NewWriter(c.App.Writer, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "IMPL\tLIBRARY\tVERSION\tSTORAGE\tNODES\tFOLLOWER PROPOSE\tPATH")
			for i, p := range plugins {
				if refusals[i] != nil {
					fmt.Fprintf(tw, "%s\t(%s)\t\t\t\t\t%s\n", p.Name, oneLineErr(refusals[i]), p.Path)
					continue
				}
				d, err := cluster.Describe(c.Context, p)
				if err != nil {
					fmt.Fprintf(tw, "%s\t(broken: %s)\t\t\t\t\t%s\n", p.Name, oneLineErr(err), p.Path)
					continue
				}
				var storage []string
				for _, s := range d.Capabilities.Storage {
					storage = append(storage, string(s))
				}
				nodes := "any"
				switch n := d.Capabilities.MaxNodes; {
				case n == 1:
					nodes = "1"
				case n > 1:
					nodes = fmt.Sprintf("1..%d", n)
				}
				follower := "refuses (not leader)"
				if d.Capabilities.ForwardsProposals {
					follower = "forwards to leader"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p.Name, d.Module, d.Version, strings.Join(storage, ","), nodes, follower, p.Path)
			}
			return tw.Flush()
		},
	}
}

// listSettings prints what each plugin found would run under --raft and
// --storage in a 3-node cluster, asked of the plugin itself
// (adapter.Node.Settings), so that the table is the code's, not a copy.
func listSettings(c *cli.Context, plugins []cluster.Plugin, refusals []error) error {
	profile, knobs, err := adapter.ParseRaft(c.String("raft"))
	if err != nil {
		return cli.Exit(fmt.Sprintf("--raft %q: %v", c.String("raft"), err), 2)
	}
	storage := adapter.Storage(c.String("storage"))
	if !slices.Contains(adapter.StorageModes, storage) {
		return cli.Exit(fmt.Sprintf("--storage %q: must be one of disk, tmpfs, memory", storage), 2)
	}
	format := c.String("format")
	if format != "text" && format != "markdown" {
		return cli.Exit(fmt.Sprintf("--format %q: must be text or markdown", format), 2)
	}
	cfg := adapter.Config{Storage: storage, Raft: knobs}
	var tables []backendSettings
	failed := false
	for i, p := range plugins {
		if refusals[i] != nil {
			fmt.Fprintf(c.App.ErrWriter, "%s: refused: %s\n", p.Name, oneLineErr(refusals[i]))
			failed = true
			continue
		}
		d, set, err := cluster.Settings(c.Context, p, 3, cfg)
		if err != nil {
			fmt.Fprintf(c.App.ErrWriter, "%s: %s\n", p.Name, oneLineErr(err))
			failed = true
			continue
		}
		tables = append(tables, backendSettings{desc: d, set: set})
	}
	w := c.App.Writer
	if format == "markdown" {
		writeSettingsMarkdown(w, profile, storage, tables, c.Bool("knobs"))
	} else {
		writeSettingsText(w, profile, storage, tables)
	}
	if failed {
		return cli.Exit("", 1)
	}
	return nil
}

// backendSettings is one plugin's answer to Settings.
type backendSettings struct {
	desc adapter.Description
	set  adapter.Settings
}

func writeSettingsText(w io.Writer, profile string, storage adapter.Storage, tables []backendSettings) {
	for i, t := range tables {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "%s (%s %s), profile %s, storage %s\n", t.desc.Name, t.desc.Module, t.desc.Version, profile, storage)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "KNOB\tSETTING\tVALUE\tSOURCE\tNOTE")
		for _, v := range t.set.Values {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", cmp.Or(v.Knob, "-"), v.Name, v.Value, v.Source, v.Note)
		}
		tw.Flush()
		for _, u := range t.set.Unhonoured {
			fmt.Fprintf(w, "not honoured: %s\n", u)
		}
	}
}

// writeSettingsMarkdown writes the shared knobs side by side, then each
// backend's whole table.
func writeSettingsMarkdown(w io.Writer, profile string, storage adapter.Storage, tables []backendSettings, knobsOnly bool) {
	fmt.Fprintf(w, "Shared knobs, profile `%s`, storage `%s`:\n\n", profile, storage)
	fmt.Fprint(w, "| knob |")
	for _, t := range tables {
		fmt.Fprintf(w, " %s |", t.desc.Name)
	}
	fmt.Fprint(w, "\n|---|")
	for range tables {
		fmt.Fprint(w, "---|")
	}
	fmt.Fprintln(w)
	for _, k := range adapter.Knobs {
		fmt.Fprintf(w, "| %s |", k)
		for _, t := range tables {
			cell := "no equivalent"
			if i := slices.IndexFunc(t.set.Values, func(v adapter.Setting) bool { return v.Knob == k }); i >= 0 {
				v := t.set.Values[i]
				cell = fmt.Sprintf("%s (%s)", v.Value, v.Source)
			}
			if i := slices.IndexFunc(t.set.Unhonoured, func(u adapter.Unhonoured) bool { return u.Knob == k }); i >= 0 {
				cell += " — not honoured: " + t.set.Unhonoured[i].Reason
			}
			fmt.Fprintf(w, " %s |", mdCell(cell))
		}
		fmt.Fprintln(w)
	}
	if knobsOnly {
		return
	}
	for _, t := range tables {
		fmt.Fprintf(w, "\n%s (%s %s):\n\n", t.desc.Name, t.desc.Module, t.desc.Version)
		fmt.Fprintln(w, "| knob | setting | value | source | note |\n|---|---|---|---|---|")
		for _, v := range t.set.Values {
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s |\n", cmp.Or(v.Knob, ""), mdCell(v.Name), mdCell(v.Value), v.Source, mdCell(v.Note))
		}
	}
}

// mdCell keeps a value inside its Markdown table cell.
func mdCell(s string) string { return strings.ReplaceAll(strings.ReplaceAll(s, "|", "\\|"), "\n", " ") }
