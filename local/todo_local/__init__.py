"""The local platform: the whole system on one machine, wired to emulators, and its CLI."""
