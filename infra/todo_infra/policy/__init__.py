"""Offline policy checks on synthesized templates: a small IAM evaluator and what it proves."""
