package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
)

// Shell completion. The scripts `parley completion bash|zsh|fish` print call back into
// the binary for every TAB:
//
//	PARLEY_COMPLETE=SHELL parley WORD... CURRENT --generate-bash-completion
//
// WORD... are the words before the one being completed and CURRENT that word as typed so
// far (empty after a space). run hands such a line to complete, never to a command, so a
// TAB never sends, changes or prints anything but candidates: not even after `--`, where
// urfave/cli's own completer gave up and ran the command. Candidates come one a line:
//
//   - bash (PARLEY_COMPLETE=bash): the words arrive as typed (quotes, backslashes);
//     each candidate is quoted for the line, in the quoting the word was begun with:
//     Ann\ Lee, \#ops, or 'Ann Lee' after an opening quote. The shell inserts it as is.
//   - zsh and fish: the words arrive unquoted; a line is "CANDIDATE\tDESCRIPTION" and the
//     shell quotes what it inserts.
//   - anything else: bare candidates (urfave/cli's old protocol).
//
// A line ":files" asks the shell to complete file names (":dirs" directories) itself.
//
// What the node knows (peers, contacts, #rooms, transfer and invitation IDs) is asked of
// the node of the home on the line (--home, PARLEY_HOME or the default) under a short
// deadline. A node that is not running, or does not answer in time, gives no candidates
// and no message: completion stays fast and silent. Names that come from other peers are
// offered only when they are printable (visible) and resolve to that one peer, as the
// node resolves them; otherwise the peer ID is offered.

// completeTimeout bounds everything one TAB asks of the node.
const completeTimeout = time.Second

// completeEnv names the shell the completion scripts run in.
const completeEnv = "PARLEY_COMPLETE"

// Directives: the shell completes file or directory names itself.
const (
	completeFiles = ":files"
	completeDirs  = ":dirs"
)

// candidate is one completion: the word and, for zsh and fish, what it is.
type candidate struct {
	word, desc string
}

// completion is one completion request, parsed.
type completion struct {
	shell string
	home  string
	cur   string   // the word being completed, unquoted
	quote byte     // bash: the quote the current word was begun with, or 0
	path  []string // command path, e.g. ["room", "invite"]
	args  []string // the arguments before cur
	ended bool     // a -- came before cur: only arguments follow
	// valueOf is the flag whose value cur is (the word before it is the flag).
	valueOf string
	cmd     *cli.Command
	app     *cli.App
	node    *nodeData
}

// complete writes the candidates for words (the last one being completed) to w.
func complete(ctx context.Context, app *cli.App, words []string, shell string, w io.Writer) {
	c := parseCompletion(app, words, shell)
	ctx, cancel := context.WithTimeout(ctx, completeTimeout)
	defer cancel()
	cands := c.candidates(ctx)
	if len(cands) == 1 && (cands[0].word == completeFiles || cands[0].word == completeDirs) {
		if shell == "bash" || shell == "zsh" || shell == "fish" {
			fmt.Fprintln(w, cands[0].word)
		}
		return
	}
	for _, cand := range cands {
		if shell != "fish" && !matches(cand.word, c.cur) { // fish matches by itself, also inside words
			continue
		}
		switch shell {
		case "bash":
			fmt.Fprintln(w, bashQuote(cand.word, c.quote))
		case "zsh", "fish":
			fmt.Fprintf(w, "%s\t%s\n", cand.word, strings.ReplaceAll(visible(cand.desc), "\t", " "))
		default:
			fmt.Fprintln(w, cand.word)
		}
	}
}

// parseCompletion walks words like normalizeArgs does, but never fails: it finds the
// command, its arguments so far, --home, and what the current word is.
func parseCompletion(app *cli.App, words []string, shell string) *completion {
	c := &completion{shell: shell, app: app, home: os.Getenv("PARLEY_HOME")}
	switch shell {
	case "bash":
		words = joinEquals(words)
		for i, word := range words {
			words[i], c.quote = shellUnquote(word)
		}
	case "fish": // fish unquotes the words before the current one, not that one
		if n := len(words); n > 0 {
			words[n-1], _ = shellUnquote(words[n-1])
		}
	}
	if len(words) > 0 {
		c.cur, words = words[len(words)-1], words[:len(words)-1]
	}
	c.walk(words)
	if c.home == "" {
		c.home = defaultHome()
	}
	c.home = expandHome(c.home)
	return c
}

// walk reads the words before the current one: commands, flags (and their values),
// arguments.
func (c *completion) walk(words []string) {
	globals := flagTable{}
	globals.add(c.app.Flags...)
	table, subs := globals, c.app.Commands
	for i := 0; i < len(words); i++ {
		word := words[i]
		switch {
		case c.ended:
			c.args = append(c.args, word)
		case word == "--":
			c.ended = true
		case isFlagWord(word):
			name, hasValue := flagName(word)
			if name == "home" && hasValue {
				_, c.home, _ = strings.Cut(word, "=")
			}
			if takes := table[name] || globals[name]; !takes || hasValue {
				continue
			}
			if i+1 == len(words) {
				c.valueOf = name // the current word is its value
				continue
			}
			if i++; name == "home" {
				c.home = words[i]
			}
		case len(c.args) == 0 && len(subs) > 0:
			sub := findCommand(subs, word)
			if sub == nil { // no such command: nothing to offer
				c.args, subs = append(c.args, word), nil
				continue
			}
			c.cmd, c.path = sub, append(c.path, sub.Name)
			table = flagTable{}
			table.add(sub.Flags...)
			subs = sub.Subcommands
		default:
			c.args = append(c.args, word)
		}
	}
}

// candidates are what may stand at the current word, before filtering by its prefix.
func (c *completion) candidates(ctx context.Context) []candidate {
	switch {
	case c.valueOf != "":
		return flagValues(c.valueOf)
	case !c.ended && strings.HasPrefix(c.cur, "-"):
		return c.flags()
	}
	if c.cmd == nil || len(c.cmd.Subcommands) > 0 {
		if len(c.args) > 0 {
			return nil
		}
		cmds := c.app.Commands
		if c.cmd != nil {
			cmds = c.cmd.Subcommands
		}
		return commandCandidates(cmds)
	}
	return c.argument(ctx, strings.Join(c.path, " "), len(c.args))
}

// flags are the current command's flags (or the app's), --help and --home.
func (c *completion) flags() []candidate {
	flags := c.app.Flags
	if c.cmd != nil {
		flags = append(slices.Clone(c.cmd.Flags), c.app.Flags...)
	}
	flags = append(flags, cli.HelpFlag)
	var out []candidate
	for _, f := range flags {
		if h, ok := f.(interface{ IsVisible() bool }); ok && !h.IsVisible() {
			continue
		}
		desc := ""
		if u, ok := f.(interface{ GetUsage() string }); ok {
			desc = u.GetUsage()
		}
		for _, name := range f.Names() {
			out = append(out, candidate{dashes(name), desc})
		}
	}
	return out
}

func commandCandidates(cmds []*cli.Command) []candidate {
	var out []candidate
	for _, cmd := range cmds {
		if cmd.Hidden {
			continue
		}
		for _, name := range cmd.Names() {
			out = append(out, candidate{name, cmd.Usage})
		}
	}
	return out
}

// flagValues are the values a flag takes, where they are few or are files.
func flagValues(flag string) []candidate {
	switch flag {
	case "home", "downloads":
		return []candidate{{word: completeDirs}}
	case "export", "network-key", "on-message", "scan-cmd":
		return []candidate{{word: completeFiles}}
	case "accept-files":
		return words("contacts", "any", "ask")
	case "log-level":
		return words("debug", "info", "warn", "error")
	}
	return nil
}

func words(ws ...string) []candidate {
	out := make([]candidate, len(ws))
	for i, w := range ws {
		out[i] = candidate{word: w}
	}
	return out
}

// argument is what the n-th argument of the command at path may be.
func (c *completion) argument(ctx context.Context, path string, n int) []candidate {
	switch {
	case n == 0 && (path == "send" || path == "chat" || path == "history" || path == "send-file"):
		return c.data(ctx).recipients()
	case n > 0 && path == "send-file", n == 0 && path == "network-key new":
		return []candidate{{word: completeFiles}}
	case n == 0 && path == "status":
		return words("online", "away", "busy", "invisible")
	case n == 0 && path == "completion":
		return words("bash", "zsh", "fish")
	case n == 0 && path == "transfers accept":
		return c.data(ctx).transfers(true)
	case n == 0 && path == "transfers cancel":
		return c.data(ctx).transfers(false)
	case n == 0 && strings.HasPrefix(path, "contacts "):
		return c.data(ctx).contactsFor(strings.TrimPrefix(path, "contacts "))
	case n == 0 && (path == "room join" || path == "room decline"):
		return c.data(ctx).invites()
	case n == 0 && (path == "room leave" || path == "room invite" || path == "room remove"):
		return c.data(ctx).rooms(path != "room leave")
	case n == 1 && (path == "room invite" || path == "room remove"):
		return c.data(ctx).roomPeers(c.args[0], path == "room remove")
	}
	return nil
}

// matches reports whether cand completes cur: cur begins it, ignoring case, or it is a
// '#room' whose name cur begins (`send ops` means the room, as the node's error says).
func matches(cand, cur string) bool {
	return hasPrefixFold(cand, cur) || strings.HasPrefix(cand, "#") && !strings.HasPrefix(cur, "#") && hasPrefixFold(cand[1:], cur)
}

// hasPrefixFold reports whether s begins with prefix, ignoring case: names resolve
// regardless of case, so "an" completes to "Ann".
func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// joinEquals undoes bash's split of --flag=value into "--flag", "=", "value" (= is in
// COMP_WORDBREAKS).
func joinEquals(words []string) []string {
	var out []string
	for i := 0; i < len(words); i++ {
		if words[i] == "=" && len(out) > 0 && strings.HasPrefix(out[len(out)-1], "-") {
			out[len(out)-1] += "="
			if i+1 < len(words) {
				out[len(out)-1] += words[i+1]
				i++
			}
			continue
		}
		out = append(out, words[i])
	}
	return out
}

// shellUnquote removes bash quoting from a word as typed: '...', "..." and backslashes.
// It returns the quote still open at the end, if any.
func shellUnquote(word string) (string, byte) {
	var b strings.Builder
	var open byte
	for i := 0; i < len(word); i++ {
		ch := word[i]
		switch {
		case open == '\'':
			if ch == '\'' {
				open = 0
			} else {
				b.WriteByte(ch)
			}
		case open == '"' && ch == '"':
			open = 0
		case open == '"' && ch == '\\' && i+1 < len(word) && strings.IndexByte("\"\\$`", word[i+1]) >= 0:
			i++
			b.WriteByte(word[i])
		case open == '"':
			b.WriteByte(ch)
		case ch == '\'' || ch == '"':
			open = ch
		case ch == '\\' && i+1 < len(word):
			i++
			b.WriteByte(word[i])
		case ch == '\\':
		default:
			b.WriteByte(ch)
		}
	}
	return b.String(), open
}

// bashQuote quotes word for a bash command line: in single or double quotes when the
// word being completed was begun with one (readline then replaces from that quote),
// else with a backslash before each character the shell would take apart or act on.
// A '!' inside double quotes goes in single quotes: at a prompt, history expansion
// acts on it there, and a backslash before it would stay in the word.
func bashQuote(word string, open byte) string {
	switch open {
	case '\'':
		return "'" + strings.ReplaceAll(word, "'", `'\''`) + "'"
	case '"':
		var b strings.Builder
		b.WriteByte('"')
		for i := 0; i < len(word); i++ { // bytes: those of UTF-8 sequences are all safe
			switch r := word[i]; {
			case r == '!': // history expansion at a prompt; "\!" would keep the backslash
				b.WriteString(`"'!'"`)
				continue
			case strings.IndexByte("\"\\$`", r) >= 0:
				b.WriteByte('\\')
			}
			b.WriteByte(word[i])
		}
		return b.String() + `"`
	}
	var b strings.Builder
	for i := 0; i < len(word); i++ {
		r := word[i]
		safe := r >= 0x80 || r == '_' || r == '.' || r == '/' || r == '-' || r == '+' || r == ',' || r == '@' || r == '%' ||
			('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z') || ('0' <= r && r <= '9') || (r == '~' && i > 0)
		switch {
		case r < 0x20 || r == 0x7f: // a backslash before a newline would join lines
			b.WriteString("'" + string(r) + "'")
			continue
		case !safe:
			b.WriteByte('\\')
		}
		b.WriteByte(r)
	}
	return b.String()
}

// expandHome expands a leading ~/ the shell has not expanded yet (the words are as typed).
func expandHome(path string) string {
	if rest, ok := strings.CutPrefix(path, "~/"); ok {
		if dir, err := os.UserHomeDir(); err == nil {
			return filepath.Join(dir, rest)
		}
	}
	return path
}

const bashCompletion = `# parley bash completion: source <(parley completion bash)
_parley() {
  local cur=${COMP_WORDS[COMP_CWORD]} out
  out=$(PARLEY_COMPLETE=bash "${COMP_WORDS[0]}" "${COMP_WORDS[@]:1:COMP_CWORD-1}" "$cur" --generate-bash-completion 2>/dev/null </dev/null)
  COMPREPLY=()
  case $out in
  :files | :dirs)
    local kind=-f word
    [[ $out == :dirs ]] && kind=-d
    compopt -o filenames 2>/dev/null
    while IFS= read -r word; do COMPREPLY+=("$word"); done < <(compgen $kind -- "$cur")
    ;;
  ?*) mapfile -t COMPREPLY <<<"$out" ;;
  esac
  return 0
}
complete -F _parley parley
`

const zshCompletion = `#compdef parley
# parley zsh completion: source <(parley completion zsh), after compinit; or save it as
# _parley in a directory of $fpath
_parley() {
  local -a lines cands descs
  local line out
  out=$(PARLEY_COMPLETE=zsh ${words[1]} "${(@Q)words[2,CURRENT-1]}" "${(Q)PREFIX}" --generate-bash-completion 2>/dev/null </dev/null)
  case $out in
  :files) _files; return ;;
  :dirs) _files -/; return ;;
  esac
  lines=("${(@f)out}")
  for line in $lines; do
    [[ -n $line ]] || continue
    cands+=("${line%%$'\t'*}")
    descs+=("${line%%$'\t'*}  ${line#*$'\t'}")
  done
  (( $#cands )) && compadd -U -l -d descs -a cands
}
if [[ $funcstack[1] == _parley ]]; then
  _parley "$@" # autoloaded from a file _parley in $fpath
elif (( $+functions[compdef] )); then
  compdef _parley parley
else
  print -u2 'parley: zsh completion needs compinit first: autoload -U compinit && compinit'
fi
`

const fishCompletion = `# parley fish completion: parley completion fish > ~/.config/fish/completions/parley.fish
function __parley_complete
    set -l words (commandline -opc)
    set -l out (env PARLEY_COMPLETE=fish $words[1] $words[2..-1] "$(commandline -ct)" --generate-bash-completion 2>/dev/null </dev/null)
    switch "$out[1]"
        case :files
            __fish_complete_path (commandline -ct)
        case :dirs
            __fish_complete_directories (commandline -ct)
        case '*'
            string join \n -- $out
    end
end
complete -c parley -f -a '(__parley_complete)'
`

func completionCommand() *cli.Command {
	return &cli.Command{
		Name:      "completion",
		Usage:     "print a shell completion script (bash, zsh or fish)",
		ArgsUsage: "bash|zsh|fish",
		Description: "The scripts complete commands, flags, peer and contact names, '#rooms', and\n" +
			"transfer and invitation IDs, asking the running node (silently nothing when it is not).",
		Action: func(c *cli.Context) error {
			script, ok := map[string]string{"bash": bashCompletion, "zsh": zshCompletion, "fish": fishCompletion}[c.Args().First()]
			if !ok {
				return usageError("completion needs a shell: bash, zsh or fish")
			}
			fmt.Fprint(c.App.Writer, script)
			return nil
		},
	}
}
