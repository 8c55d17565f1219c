"""pywasi: a WASI host for Python on wasmtime."""
