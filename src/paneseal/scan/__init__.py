"""Hard-coded secret scanner for tmuxinator projects."""
