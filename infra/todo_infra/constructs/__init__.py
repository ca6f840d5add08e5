"""Reusable constructs: locked-down buckets and Docker-free Python functions."""
