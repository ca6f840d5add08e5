"""Test support for every test folder: the platform fixtures (a pytest plugin) and token forging."""
