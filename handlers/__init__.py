"""Handlers: the semantics of every WASI function, in plain Python values."""
