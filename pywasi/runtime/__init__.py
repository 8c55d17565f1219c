"""The runtime the generated code imports at the top of its modules, and the
handlers and facade build on: guest memory (memory.py), what handlers raise
and the host errno table (errors.py), and what the trace decoders produce
(decoders.py). It imports nothing of pywasi but the generated errno, so
nothing has to hide an import inside a function to dodge a cycle."""
