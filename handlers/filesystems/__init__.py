"""Filesystems a preopen stands for: each resolves guest paths beneath its
own root, with one resolver and one symlink budget per path."""
