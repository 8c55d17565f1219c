/* The C hot path's runtime: what the generated callbacks (generated/native.c)
   and the C handlers (calls.c) share. It knows wasmtime only through the few
   C API functions the extension is handed at import (native_api), and guest
   memory only as (base, size) read afresh at each call: a memory that grows or
   moves needs nothing more.

   A state is one WASI object's: what its native calls need (the strings,
   clocks) and the store it was started with. A callback serves a call in C
   only when its state is on, the call is enabled, and the caller's store is
   that store; otherwise it hands the call, unchanged, to the Python callback
   (native_fallback), which is what pywasi runs without this extension. */

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

typedef struct {
  wasm_trap_t *(*trap_new)(const char *message, size_t length);
  wasmtime_context_t *(*caller_context)(wasmtime_caller_t *caller);
  uint8_t *(*memory_data)(const wasmtime_context_t *context, const void *memory);
  size_t (*memory_data_size)(const wasmtime_context_t *context, const void *memory);
} native_api_t;

extern native_api_t native_api;

/* Python runs its signal handlers (Ctrl-C, a run's stop) only on the main
   thread, between bytecodes: a guest on that thread whose host calls all
   stay in C would never let them run. So there, one call in
   NATIVE_SIGNAL_EVERY goes to Python, which answers it the same way. */
#define NATIVE_SIGNAL_EVERY 256
extern unsigned long native_main_thread;
extern _Thread_local uint32_t native_countdown;

#define NATIVE_MEMORY_BYTES 32 /* room for a wasmtime_memory_t of any supported wasmtime */

/* Strings laid out as args_get and environ_get store them: each followed by
   its NUL, back to back, so that one copy writes them all. */
typedef struct {
  uint32_t count;
  uint32_t bytes; /* NULs included */
  uint32_t *offsets;
  char *data;
} native_strings_t;

typedef struct {
  atomic_long refs;
  atomic_int on;                /* 0: every call goes to Python */
  atomic_uint_least64_t enabled; /* by NATIVE_* bit: served here when on */
  atomic_uint_least64_t calls;   /* calls served here (a usage record's count) */
  wasmtime_context_t *context;  /* the store it was started with */
  uint8_t memory[NATIVE_MEMORY_BYTES];
  native_strings_t args, env;
  int64_t monotonic_origin;
  uint64_t resolution[4];
} native_state_t;

/* What wasmtime passes a callback as its env: the state, and the Python
   callback of the same function, which serves every call C does not. */
typedef struct {
  native_state_t *state;
  size_t (*fallback)(void *env, void *caller, void *args);
  void (*release)(void *key); /* Python's finalizer of the fallback */
  void *key;
} native_entry_t;

/* One call under way: its state and the memory as it is now. */
typedef struct {
  native_state_t *state;
  uint8_t *base;
  size_t size;
} native_call_t;

void native_state_release(native_state_t *state);
void native_random_setup(void); /* once, at import */

static inline int native_begin(void *env, wasmtime_caller_t *caller, uint32_t id, native_call_t *call) {
  native_entry_t *entry = env;
  native_state_t *state = entry->state;
  if (!atomic_load_explicit(&state->on, memory_order_acquire))
    return 0;
  if (!(atomic_load_explicit(&state->enabled, memory_order_relaxed) & ((uint64_t)1 << id)))
    return 0;
  if ((unsigned long)pthread_self() == native_main_thread && ++native_countdown % NATIVE_SIGNAL_EVERY == 0)
    return 0;
  wasmtime_context_t *context = native_api.caller_context(caller);
  if (context != state->context)
    return 0; /* another store: the Python path answers as it always has */
  atomic_fetch_add_explicit(&state->calls, 1, memory_order_relaxed);
  call->state = state;
  call->base = native_api.memory_data(context, state->memory);
  call->size = native_api.memory_data_size(context, state->memory);
  return 1;
}

/* The Python callback of the call. When an exception escapes it (raised at
   its first bytecode: an async exception, a signal handler's), ctypes reports
   it and returns without writing the return value: the caller reads whatever
   the stack held there. Zeroing the stack the call is about to use first
   makes that 0 ("no trap", as the bridge expects: its unraisable hook stops
   the guest at its next call) on the stacks seen here, but not provably:
   an async exception on the guest's thread can still crash the process,
   which is why the C hot path is opt-in (pywasi/native.py). */
void native_clear_stack(void);

static inline wasm_trap_t *native_fallback(void *env, wasmtime_caller_t *caller, wasmtime_val_raw_t *args,
                                           size_t nargs) {
  (void)nargs;
  native_entry_t *entry = env;
  native_clear_stack();
  return (wasm_trap_t *)entry->fallback(env, caller, args);
}

/* The trap of a region that failed its inline check, worded as
   pywasi.runtime.memory.GuestMemory.check words it. */
wasm_trap_t *native_check(const native_call_t *call, uint32_t ptr, uint64_t size, uint32_t align,
                          const char *function);

/* args_get, environ_get: as GuestMemory.write_strings. */
wasm_trap_t *native_write_strings(const native_call_t *call, uint32_t vector, uint32_t buf,
                                  const native_strings_t *strings, const char *function);

#endif
