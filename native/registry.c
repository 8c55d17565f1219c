/* Which WASI object's state each store was started with: the callbacks are
   the same for every WASI object (registered once per linker), so a call
   finds its state here from the caller's store context.

   A store is registered when a WASI object starts with it and forgotten
   when wasmtime-py deletes it (pywasi/native.py), before its address can
   be reused. Lookups are lock-free on a thread's cache, checked against a
   generation that every change bumps; a miss takes the lock. A state found
   here stays alive while its store can call: only forgetting the store
   (which no longer runs) or replacing its closed state releases it. */

#include <pthread.h>
#include <stdlib.h>

#include "native.h"

typedef struct {
  wasmtime_context_t *context;
  native_state_t *state;
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
  native_state_t *old = NULL;
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
    b->context = context;
    b->state = NULL;
  }
  old = b->state;
  atomic_fetch_add(&state->refs, 1);
  b->state = state;
  atomic_fetch_add_explicit(&generation, 1, memory_order_release);
  pthread_mutex_unlock(&registry_lock);
  if (old != NULL)
    native_state_release(old);
  return 0;
}

/* The store of `context` is being deleted: it reaches no state any more.
   With the GIL. */
void native_forget(wasmtime_context_t *context) {
  native_state_t *old = NULL;
  pthread_mutex_lock(&registry_lock);
  native_binding_t *b = find(context);
  if (b != NULL) {
    old = b->state;
    *b = bindings[--count];
    atomic_fetch_add_explicit(&generation, 1, memory_order_release);
  }
  pthread_mutex_unlock(&registry_lock);
  if (old != NULL)
    native_state_release(old);
}

/* How many stores are bound (for tests: none is kept after its store goes). */
size_t native_bound(void) {
  pthread_mutex_lock(&registry_lock);
  size_t n = count;
  pthread_mutex_unlock(&registry_lock);
  return n;
}
