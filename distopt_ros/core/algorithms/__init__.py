"""Algorithm agents. Each module cites its section of ../shared/ALGORITHMS.md."""
