"""Exit codes of the node executables and the runners (importable without ROS).

A runner ended by signal N exits with ``128 + N`` after printing what was done so far.
"""

EXIT_OK = 0
"""Done: converged, or stopped on request (SIGINT/SIGTERM to a node)."""
EXIT_FAILURE = 1
"""A real failure (a robot process died, ROS missing, an unexpected error)."""
EXIT_BAD_PARAMETER = 2
"""A parameter was refused before anything started (one line names it)."""
EXIT_NOT_CONVERGED = 3
"""The swarm stopped (iteration cap, timeout) without converging."""
EXIT_PEER_LOST = 4
"""The robot stopped because a peer it needs is gone (its coordinator, or a neighbour of an algorithm that
cannot go on without it, or every neighbour): see the status's ``stop_reason``."""
