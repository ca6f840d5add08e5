"""Subcommands of the `todo-insights` CLI, one module each, each exposing `register(subparsers)`."""
