"""Algorithm agents. Each module cites its section of docs/algorithms.md by title."""
