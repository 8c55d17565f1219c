"""Syscall groups: one class per group of WASI functions (fd, path, poll,
sock, args/env, clock, random, proc). Each looks its descriptor up with the
rights the call needs and delegates; none asks what kind it holds."""
