"""The control plane: compiles a registry into AWS state, diffs and applies it, moves phases, reverts."""
