"""args_* and environ_*: the argument and environment strings, computed once."""

from __future__ import annotations


class ArgsEnv:
    def __init__(self, args: list[bytes], env: list[bytes]):
        self.args = args
        self.env = env
        self._args_sizes = (len(args), sum(len(a) + 1 for a in args))
        self._env_sizes = (len(env), sum(len(e) + 1 for e in env))

    # Empty lists are fine: zero strings in zero bytes (Node's host answers
    # EINVAL to args_get when there are no arguments; wasmtime does not).
    def args_get(self) -> list[bytes]:
        return self.args

    def args_sizes_get(self) -> tuple[int, int]:
        return self._args_sizes

    def environ_get(self) -> list[bytes]:
        return self.env

    def environ_sizes_get(self) -> tuple[int, int]:
        return self._env_sizes
