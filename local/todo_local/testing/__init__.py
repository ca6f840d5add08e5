"""Test support for all test folders: platform and moto fixtures (a pytest plugin), tokens, stream records."""
