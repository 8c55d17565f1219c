"""The C hot path (pywasi._native), an optional extension: when it cannot be
built (no compiler, no Python headers) pywasi installs without it and runs
every host call in Python. Everything else is in pyproject.toml."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "pywasi._native",
            sources=["native/module.c", "native/calls.c", "native/registry.c", "native/trampoline.c", "native/fds.c",
                     "generated/native.c"],
            include_dirs=["native", "generated"],
            extra_compile_args=["-O2", "-std=c11", "-Wall"],
            optional=True,
        )
    ]
)
