#!/usr/bin/env bash
# The README's first Quick start command ends here: a sample tmuxinator project whose
# secrets come from the embedded store, started for real, with proof of where the values
# are and are not.  Everything happens in a throwaway HOME so your own config is untouched.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
demo_home="$(mktemp -d /tmp/paneseal-demo.XXXXXX)"
export HOME="$demo_home" XDG_CONFIG_HOME="$demo_home/.config" XDG_DATA_HOME="$demo_home/.local/share"
export XDG_STATE_HOME="$demo_home/.local/state" TMUX_TMPDIR="$demo_home/tmux"
unset TMUX TMUXINATOR_CONFIG XDG_RUNTIME_DIR
mkdir -p "$TMUX_TMPDIR" "$XDG_CONFIG_HOME/tmuxinator"
chmod 700 "$TMUX_TMPDIR"
cleanup() { tmux kill-server 2>/dev/null || true; rm -rf "$demo_home"; }
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "paneseal store init (identity in \$XDG_CONFIG_HOME/paneseal, 0600)"
paneseal store init

step "store two synthetic secrets (values come from stdin, never argv)"
head -c 18 /dev/urandom | base64 | tr -d '\n' | paneseal store set demo_api_token
head -c 18 /dev/urandom | base64 | tr -d '\n' | paneseal store set demo_db_password
paneseal store ls

cp "$here/demo.yml" "$XDG_CONFIG_HOME/tmuxinator/paneseal-demo.yml"
step "the project file holds references only"
grep -E '^ *(secrets:|DEMO_)' "$here/demo.yml"

step "paneseal check paneseal-demo (values are never shown)"
paneseal check paneseal-demo

if paneseal start --help >/dev/null 2>&1; then
  step "paneseal start paneseal-demo --no-attach (the real tmuxinator)"
  paneseal start paneseal-demo --no-attach
  sleep 1
  step "what each pane's process received (read from /proc/PID/environ; lengths only)"
  tmux list-panes -s -t paneseal-demo -F '#{window_name}.#{pane_index} #{pane_pid}' |
  while read -r pane pid; do
    tok=$(tr '\0' '\n' < "/proc/$pid/environ" | grep -c '^DEMO_API_TOKEN=' || true)
    db=$(tr '\0' '\n' < "/proc/$pid/environ" | grep -c '^DEMO_DB_PASSWORD=' || true)
    echo "  pane $pane: DEMO_API_TOKEN=$([ "$tok" = 1 ] && echo present || echo absent)" \
         "DEMO_DB_PASSWORD=$([ "$db" = 1 ] && echo present || echo absent)"
  done
  step "tmux's global environment does not hold them"
  if tmux show-environment -g | grep -q '^DEMO_'; then echo "  LEAK"; exit 1; else echo "  clean"; fi
  step "what the panes' own commands printed (they read the variables themselves)"
  for pane in app.0 logs.0; do
    tmux capture-pane -p -J -t "paneseal-demo:$pane" | grep -E 'pane - ' | tail -n 1 | sed "s/^/  $pane: /"
  done
  step "paneseal stop paneseal-demo"
  paneseal stop paneseal-demo
else
  step "paneseal run --project paneseal-demo -- sh -c ..."
  paneseal run --project paneseal-demo -- sh -c 'echo "DEMO_API_TOKEN has ${#DEMO_API_TOKEN} characters"'
fi
step "done: the throwaway HOME $demo_home is removed on exit"
