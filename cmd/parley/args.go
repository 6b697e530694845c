package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"
)

// urfave/cli v2 stops reading flags at a command's first argument, so `parley send bob
// hi --json` would send "hi --json". normalizeArgs is the one place that fixes this for
// every command: it walks the app's command tree with each command's own flag
// definitions and rewrites the command line into the shape urfave/cli reads,
//
//	parley [global flags] CMD [SUB] [CMD's flags] -- [arguments]
//
// Flags may then come before or after arguments; global flags (--home) may come after
// the command name; `--` ends flags (what follows is arguments, even `--json`); `-`
// alone is an argument. A word that looks like a flag but is none of the command's is a
// usage error, never an argument. A mistyped command is a usage error that suggests
// the closest one.

// bashCompletionFlag is the hidden flag urfave/cli's completion scripts append; a line
// ending in it is left as it is.
const bashCompletionFlag = "--generate-bash-completion"

// parsedArgs is a normalized command line and what it asks for.
type parsedArgs struct {
	args []string // what to hand urfave/cli
	path []string // the command path, e.g. ["contacts", "add"]
	json bool     // --json was given (errors are then printed as JSON)
}

// flagTable maps every name and alias of a command's flags (without dashes) to whether
// the flag takes a value.
type flagTable map[string]bool

func (t flagTable) add(flags ...cli.Flag) {
	for _, f := range flags {
		takes := true
		if v, ok := f.(interface{ TakesValue() bool }); ok {
			takes = v.TakesValue()
		}
		for _, name := range f.Names() {
			t[name] = takes
		}
	}
}

func (t flagTable) names() []string { // sorted, so suggestions are stable
	var out []string
	for name := range t {
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

// isFlagWord reports whether word is written as a flag: a dash and something more.
func isFlagWord(word string) bool { return len(word) > 1 && word[0] == '-' }

// flagName is word's flag name: no leading dashes, nothing from '='.
func flagName(word string) (name string, hasValue bool) {
	name = strings.TrimPrefix(strings.TrimPrefix(word, "-"), "-")
	name, _, hasValue = strings.Cut(name, "=")
	return name, hasValue
}

// level is one command of the walk (the app itself at the top).
type level struct {
	name  string
	cmd   *cli.Command // nil for the app
	flags []string     // the command's own flags, as typed
}

// normalizeArgs rewrites args (args[0] is the program) as described above.
func normalizeArgs(app *cli.App, args []string) (parsedArgs, error) {
	if len(args) == 0 || args[len(args)-1] == bashCompletionFlag {
		return parsedArgs{args: args}, nil
	}
	globals := flagTable{}
	globals.add(app.Flags...)
	top := flagTable{}
	top.add(app.Flags...)
	top.add(cli.HelpFlag, cli.VersionFlag)

	w := walker{app: app, globals: globals}
	cur := &level{name: "parley"}
	table, subs := top, app.Commands
	var positional []string
	rest := args[1:]
	for i := 0; i < len(rest); i++ {
		word := rest[i]
		switch {
		case word == "--":
			positional = append(positional, rest[i+1:]...)
			i = len(rest)
		case isFlagWord(word):
			n, err := w.flag(cur, table, rest, i)
			if err != nil {
				return parsedArgs{}, err
			}
			i += n
		case len(positional) == 0 && len(subs) > 0 && word == "help" && cur.cmd != nil && !cur.cmd.HideHelpCommand:
			// `parley contacts help ls`: urfave/cli's own help command reads the rest.
			w.levels = append(w.levels, *cur)
			return w.result(args[0], append([]string{"help"}, rest[i+1:]...), nil), nil
		case len(positional) == 0 && len(subs) > 0:
			sub := findCommand(subs, word)
			if sub == nil {
				return parsedArgs{}, unknownCommand(w.path(cur), word, subs)
			}
			w.levels = append(w.levels, *cur)
			cur = &level{name: sub.Name, cmd: sub}
			table = flagTable{}
			table.add(sub.Flags...)
			if !sub.HideHelp {
				table.add(cli.HelpFlag)
			}
			subs = sub.Subcommands
		default:
			positional = append(positional, word)
		}
	}
	if cur.cmd != nil && len(subs) == 0 && !w.help {
		if err := checkArity(w.path(cur), cur.cmd, len(positional)); err != nil {
			return parsedArgs{}, err
		}
	}
	w.levels = append(w.levels, *cur)
	return w.result(args[0], nil, positional), nil
}

// arity reads how many arguments cmd takes from its ArgsUsage: words in brackets are
// optional, a word with "..." repeats (hi is then -1). "[TO]" is 0..1, "TO TEXT..." 2..∞.
func arity(cmd *cli.Command) (lo, hi int) {
	depth := 0
	for _, word := range strings.Fields(cmd.ArgsUsage) {
		opens, closes := strings.Count(word, "["), strings.Count(word, "]")
		if depth == 0 && opens == 0 {
			lo++
		}
		depth += opens - closes
		switch {
		case hi < 0:
		case strings.Contains(word, "..."):
			hi = -1
		default:
			hi++
		}
	}
	return lo, hi
}

// checkArity is the usage error for a wrong number of arguments to cmd.
func checkArity(path string, cmd *cli.Command, n int) error {
	lo, hi := arity(cmd)
	if n >= lo && (hi < 0 || n <= hi) {
		return nil
	}
	var want string
	switch {
	case hi == 0:
		want = "takes no arguments"
	case n < lo:
		want = "needs " + cmd.ArgsUsage
	default:
		want = "takes at most " + plural(hi, "argument") + ": " + cmd.ArgsUsage
	}
	return usageError("%s %s, got %s (see `%s --help`)", path, want, plural(n, "argument"), path)
}

// walker collects the flags of each level of one command line.
type walker struct {
	app     *cli.App
	globals flagTable
	front   []string // global flags, moved before the command
	levels  []level
	json    bool
	help    bool // --help or --version was given: arguments are not checked
}

// flag reads the flag at rest[i] (and its value, if it takes one and has no '=') into
// cur or, for a global flag after the command name, into the front. It returns how
// many extra words it consumed.
func (w *walker) flag(cur *level, table flagTable, rest []string, i int) (int, error) {
	word := rest[i]
	name, hasValue := flagName(word)
	takes, ok := table[name]
	dest := &cur.flags
	if !ok {
		if takes, ok = w.globals[name]; !ok {
			return 0, unknownFlag(w.path(cur), word, table)
		}
		dest = &w.front
	}
	if name == "json" && (!hasValue || strings.HasSuffix(word, "=true")) {
		w.json = true
	}
	if slices.Contains(cli.HelpFlag.Names(), name) || slices.Contains(cli.VersionFlag.Names(), name) {
		w.help = true
	}
	*dest = append(*dest, word)
	if takes && !hasValue && i+1 == len(rest) {
		return 0, usageError("%s: %s needs a value (see `%s --help`)", w.path(cur), word, w.path(cur))
	}
	if takes && !hasValue {
		*dest = append(*dest, rest[i+1]) // a value, whatever it looks like: --limit -1, --export -
		return 1, nil
	}
	return 0, nil
}

// path is the command path down to cur, for messages: "parley contacts add".
func (w *walker) path(cur *level) string {
	var names []string
	for _, l := range w.levels {
		names = append(names, l.name)
	}
	return strings.Join(append(names, cur.name), " ")
}

// result assembles the command line: program, global flags, each command with its
// flags, then tail as it is, or `--` and the positional arguments.
func (w *walker) result(prog string, tail, positional []string) parsedArgs {
	out := append([]string{prog}, w.front...)
	var path []string
	for i, l := range w.levels {
		if i > 0 {
			out = append(out, l.name)
			path = append(path, l.name)
		}
		out = append(out, l.flags...)
	}
	out = append(out, tail...)
	if len(positional) > 0 {
		out = append(append(out, "--"), positional...)
	}
	return parsedArgs{args: out, path: path, json: w.json}
}

func findCommand(cmds []*cli.Command, name string) *cli.Command {
	for _, c := range cmds {
		if c.HasName(name) {
			return c
		}
	}
	return nil
}

// unknownCommand is the usage error for a word that is none of path's commands.
func unknownCommand(path, word string, cmds []*cli.Command) error {
	var names []string
	for _, c := range cmds {
		if !c.Hidden {
			names = append(names, c.Names()...)
		}
	}
	if word == "help" {
		return usageError("there is no help command: use `%s --help`, or `parley COMMAND --help`", path)
	}
	msg := fmt.Sprintf("unknown command %q", strings.TrimPrefix(path+" "+word, "parley "))
	if s := closest(word, names); s != "" {
		msg += fmt.Sprintf("; did you mean `%s %s`?", path, s)
	} else if visible := visibleCommands(cmds); len(visible) == 1 {
		msg += fmt.Sprintf("; use `%s %s`", path, visible[0].Name)
	}
	return usageError("%s (see `%s --help`)", msg, path)
}

// visibleCommands are the commands of cmds that help lists.
func visibleCommands(cmds []*cli.Command) []*cli.Command {
	var v []*cli.Command
	for _, c := range cmds {
		if !c.Hidden {
			v = append(v, c)
		}
	}
	return v
}

// unknownFlag is the usage error for a flag-like word that is none of path's flags.
func unknownFlag(path, word string, table flagTable) error {
	name, _ := flagName(word)
	msg := fmt.Sprintf("%s has no flag %s", path, word)
	if s := closest(name, table.names()); s != "" {
		msg += fmt.Sprintf("; did you mean %s?", dashes(s))
	} else if path != "parley" {
		msg += "; text that starts with - goes after --"
	}
	return usageError("%s (see `%s --help`)", msg, path)
}

func dashes(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

// closest is the candidate nearest to word: at most 1 edit away for words of 3 to 5
// letters, 2 for longer ones, or a candidate the word begins; "" when none is near.
// Flag names come from a map, so for flags a tie may go either way.
func closest(word string, candidates []string) string {
	if len(word) < 3 {
		return "" // one or two letters are near too many things
	}
	limit := 1
	if len(word) > 5 {
		limit = 2
	}
	best, bestDist := "", limit+1
	for _, c := range candidates {
		d := editDistance(word, c)
		if strings.HasPrefix(c, word) {
			d = min(d, 1)
		}
		if d < bestDist { // on a tie the first wins: a command's name before its aliases

			best, bestDist = c, d
		}
	}
	return best
}

// editDistance is the optimal-string-alignment distance: insertions, deletions,
// substitutions and swaps of two neighbours (sned → send) count one each.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}
