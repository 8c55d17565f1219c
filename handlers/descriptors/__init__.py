"""Descriptor kinds: what a guest fd stands for.

base.Descriptor answers every fd operation with the errno the spec gives a
descriptor that does not support it; hostfd.HostFd holds what every kind over
a host fd shares; file, directory, stdio and socket are the kinds. A new kind
is one subclass overriding what it supports.
"""
