/* Which WASI object's state each store was started with: the callbacks are
   the same for every WASI object (registered once per linker), so a call
   finds its state here from the caller's store context.

   A store is registered when a WASI object starts with it and forgotten
   when wasmtime-py deletes it (pywasi/native.py), before its address can
   be reused. Lookups are lock-free on a thread's cache, checked against a
   generation that every change bumps; a miss takes the lock.

   A state found here is used without a reference of its own (a C call
   takes none, a trampolined one waits for the GIL with it): so every state
   a store was ever bound to is kept until the store is forgotten, when
   none of its calls can be under way. A closed state that another WASI
   object replaces is only retired (kept with the binding), not released. */

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "native.h"

typedef struct {
  wasmtime_context_t *context;
  native_state_t *state;
  native_state_t **retired; /* states it was bound to before, closed */
  size_t retired_count;
} native_binding_t;

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static native_binding_t *bindings;
static size_t count, capacity;
static atomic_uint_least64_t generation = 1;

static _Thread_local struct {
  wasmtime_context_t *context;
  native_state_t *state;
  uint64_t generation;
} cached;

static native_binding_t *find(wasmtime_context_t *context) {
  for (size_t i = 0; i < count; i++)
    if (bindings[i].context == context)
      return &bindings[i];
  return NULL;
}

native_state_t *native_lookup(wasmtime_context_t *context) {
  uint64_t now = atomic_load_explicit(&generation, memory_order_acquire);
  if (cached.context == context && cached.generation == now)
    return cached.state;
  pthread_mutex_lock(&registry_lock);
  native_binding_t *b = find(context);
  native_state_t *state = b != NULL ? b->state : NULL;
  cached.context = context;
  cached.state = state;
  cached.generation = atomic_load_explicit(&generation, memory_order_relaxed);
  pthread_mutex_unlock(&registry_lock);
  return state;
}

/* Bind `context` to `state` (which gains a reference). Refused (-1) when
   the store is bound to another state not yet closed; a closed one is
   replaced. Returns 0, -1 refused, or -2 out of memory. With the GIL (a replaced
   state is released here). */
int native_register(wasmtime_context_t *context, native_state_t *state) {
  pthread_mutex_lock(&registry_lock);
  native_binding_t *b = find(context);
  if (b != NULL && b->state != state && !atomic_load(&b->state->closed)) {
    pthread_mutex_unlock(&registry_lock);
    return -1;
  }
  if (b == NULL) {
    if (count == capacity) {
      size_t more = capacity ? 2 * capacity : 16;
      native_binding_t *grown = realloc(bindings, more * sizeof *grown);
      if (grown == NULL) {
        pthread_mutex_unlock(&registry_lock);
        return -2;
      }
      bindings = grown;
      capacity = more;
    }
    b = &bindings[count++];
    memset(b, 0, sizeof *b);
    b->context = context;
  } else if (b->state != state) {
    native_state_t **more = realloc(b->retired, (b->retired_count + 1) * sizeof *more);
    if (more == NULL) {
      pthread_mutex_unlock(&registry_lock);
      return -2;
    }
    b->retired = more;
    b->retired[b->retired_count++] = b->state;
  } else {
    pthread_mutex_unlock(&registry_lock);
    return 0;
  }
  atomic_fetch_add(&state->refs, 1);
  b->state = state;
  atomic_fetch_add_explicit(&generation, 1, memory_order_release);
  pthread_mutex_unlock(&registry_lock);
  return 0;
}

/* The store of `context` is being deleted: it reaches no state any more.
   With the GIL. */
void native_forget(wasmtime_context_t *context) {
  native_binding_t gone = {0};
  pthread_mutex_lock(&registry_lock);
  native_binding_t *b = find(context);
  if (b != NULL) {
    gone = *b;
    *b = bindings[--count];
    atomic_fetch_add_explicit(&generation, 1, memory_order_release);
  }
  pthread_mutex_unlock(&registry_lock);
  for (size_t i = 0; i < gone.retired_count; i++)
    native_state_release(gone.retired[i]);
  free(gone.retired);
  if (gone.state != NULL)
    native_state_release(gone.state);
}

/* How many stores are bound (for tests: none is kept after its store goes). */
size_t native_bound(void) {
  pthread_mutex_lock(&registry_lock);
  size_t n = count;
  pthread_mutex_unlock(&registry_lock);
  return n;
}
