"""tmux integration: the shim, tmux command quoting, session scoping."""
