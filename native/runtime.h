/* The C hot path's runtime: what the generated callbacks (generated/native.c),
   the C handlers (calls.c) and the trampoline into Python (trampoline.c)
   share. It knows wasmtime only through the few C API functions the
   extension is handed at import (native_api), and guest memory only as
   (base, size) read afresh at each call: a memory that grows or moves needs
   nothing more.

   Every function of a version is registered once per linker, with its
   entry in the generated table (native_function_t) as its env: the same
   callbacks serve every WASI object and every store. A call finds its WASI
   object's state from the caller's store (native_lookup: the store a WASI
   object was started with is registered to it), so a store no WASI object
   was started with reaches none. A callback serves a call in C only when
   the state is on and the call enabled; otherwise, and for every call C has
   no handler for, the trampoline hands it to the Python stub in the state's
   slot list, with the GIL. */

#ifndef PYWASI_NATIVE_RUNTIME_H
#define PYWASI_NATIVE_RUNTIME_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* wasmtime's C API, as much of it as is used here. */
typedef struct wasm_trap_t wasm_trap_t;
typedef struct wasmtime_caller wasmtime_caller_t;
typedef struct wasmtime_context wasmtime_context_t;
typedef union {
  int32_t i32;
  int64_t i64;
  uint8_t bytes[16];
} wasmtime_val_raw_t;
_Static_assert(sizeof(wasmtime_val_raw_t) == 16, "wasmtime_val_raw_t is 16 bytes");

typedef wasm_trap_t *(*native_callback_t)(void *env, wasmtime_caller_t *caller, wasmtime_val_raw_t *args,
                                          size_t nargs);

typedef struct wasmtime_error wasmtime_error_t;
typedef struct wasm_functype_t wasm_functype_t;

typedef struct {
  wasm_trap_t *(*trap_new)(const char *message, size_t length);
  wasmtime_context_t *(*caller_context)(wasmtime_caller_t *caller);
  uint8_t *(*memory_data)(const wasmtime_context_t *context, const void *memory);
  size_t (*memory_data_size)(const wasmtime_context_t *context, const void *memory);
  wasmtime_error_t *(*define_unchecked)(void *linker, const char *module, size_t module_len, const char *name,
                                        size_t name_len, const wasm_functype_t *type, native_callback_t callback,
                                        void *env, void (*finalizer)(void *));
} native_api_t;

extern native_api_t native_api;

/* One function of a version, as registered: wasmtime passes it to the
   callback as its env. */
typedef struct native_function {
  const char *name;
  uint32_t index;             /* its stub's slot: the order of the Python module's FUNCTIONS */
  int32_t id;                 /* its NATIVE_* bit, or NATIVE_PYTHON_ONLY */
  native_callback_t callback; /* its C callback, or native_trampoline */
  uint32_t params;            /* core parameters */
  uint32_t wide;              /* bit i set: parameter i is an i64 */
  uint32_t results;           /* 0, or 1 (an errno) */
} native_function_t;

#define NATIVE_MAX_PARAMS 16

/* The generated module's name of a version's table: preview1, preview0. */
const char *native_version_of(const native_function_t *table);

/* Python runs its signal handlers (a SIGALRM or SIGTERM handler of the
   host's) only on the main thread, between bytecodes: a guest on that
   thread whose host calls all stay in C would never let them run. So there,
   a call goes to Python when NATIVE_PYTHON_EVERY_NS have passed since one
   last did (by the coarse clock, looked at every 64th call). Not by count:
   going to Python waits for the GIL, up to a switch interval next to a busy
   thread. (A run's stops, Ctrl-C included, switch C off themselves.) */
#define NATIVE_PYTHON_EVERY_NS 50000000
extern unsigned long native_main_thread;
int native_python_due(void);

#define NATIVE_MEMORY_BYTES 32 /* room for a wasmtime_memory_t of any supported wasmtime */

/* Strings laid out as args_get and environ_get store them: each followed by
   its NUL, back to back, so that one copy writes them all. */
typedef struct {
  uint32_t count;
  uint32_t bytes; /* NULs included */
  uint32_t *offsets;
  char *data;
} native_strings_t;

struct native_fds; /* the fd table's mirror (fds.h) */

typedef struct native_state {
  atomic_long refs;
  atomic_int on;                 /* 0: every call goes to Python */
  atomic_int closed;             /* its WASI object was closed */
  atomic_uint_least64_t enabled; /* by NATIVE_* bit: served here when on */
  atomic_uint_least64_t calls;   /* host calls from its store, in C and in Python */
  atomic_long in_flight;         /* calls in Python under way, on any thread */
  wasmtime_context_t *context;   /* the store it was started with */
  uint8_t memory[NATIVE_MEMORY_BYTES];
  void *slots; /* the bridge's list of stubs (a PyObject *, owned; used with the GIL) */
  const struct native_function *functions; /* its version's table: calls of another find none */
  native_strings_t args, env;
  int64_t monotonic_origin;
  uint64_t resolution[4];
  struct native_fds *fds;
} native_state_t;

/* The state the store of `context` was started with, or NULL (registry.c). */
native_state_t *native_lookup(wasmtime_context_t *context);
int native_register(wasmtime_context_t *context, native_state_t *state);
void native_forget(wasmtime_context_t *context);
size_t native_bound(void);

/* One call under way: its state and the memory as it is now. */
typedef struct {
  native_state_t *state;
  uint8_t *base;
  size_t size;
} native_call_t;

void native_state_release(native_state_t *state);
void native_random_setup(void); /* once, at import */

/* Whether C serves this call: when it does, `call` is set up for it and the
   call is counted. */
static inline int native_begin(void *env, wasmtime_caller_t *caller, uint32_t id, native_call_t *call) {
  if ((unsigned long)pthread_self() == native_main_thread && native_python_due())
    return 0;
  wasmtime_context_t *context = native_api.caller_context(caller);
  native_state_t *state = native_lookup(context);
  const native_function_t *f = env;
  if (state == NULL || state->functions != f - f->index || !atomic_load_explicit(&state->on, memory_order_acquire))
    return 0;
  if (!(atomic_load_explicit(&state->enabled, memory_order_relaxed) & ((uint64_t)1 << id)))
    return 0;
  atomic_fetch_add_explicit(&state->calls, 1, memory_order_relaxed);
  call->state = state;
  call->base = native_api.memory_data(context, state->memory);
  call->size = native_api.memory_data_size(context, state->memory);
  return 1;
}

/* The call, handed to its Python stub (with the GIL): for every call C does
   not serve. Whatever the stub raises, even at its first bytecode (an
   async exception, a signal handler's), becomes a trap whose exception the
   bridge keeps for whoever entered the guest (pywasi/bridge.py). */
wasm_trap_t *native_trampoline(void *env, wasmtime_caller_t *caller, wasmtime_val_raw_t *args, size_t nargs);

/* The trap of a region that failed its inline check, worded as
   pywasi.runtime.memory.GuestMemory.check words it. */
wasm_trap_t *native_check(const native_call_t *call, uint32_t ptr, uint64_t size, uint32_t align,
                          const char *function);

/* args_get, environ_get: as GuestMemory.write_strings. */
wasm_trap_t *native_write_strings(const native_call_t *call, uint32_t vector, uint32_t buf,
                                  const native_strings_t *strings, const char *function);

#endif
