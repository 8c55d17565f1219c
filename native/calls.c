/* The calls served in C: the same semantics as their Python handlers
   (handlers/calls/args_env.py, clock.py, random.py, proc.py), without the
   GIL. The callbacks in generated/native.c check pointers and lift the
   arguments first; these get canonical values and answer an errno. */

#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <sys/random.h>
#include <time.h>

#include "native.h"

/* Checks and stores -------------------------------------------------------- */

wasm_trap_t *native_check(const native_call_t *call, uint32_t ptr, uint64_t size, uint32_t align,
                          const char *function) {
  char message[256];
  int n;
  if (align > 1 && ptr % align)
    n = snprintf(message, sizeof message, "%s: misaligned pointer 0x%x (must be aligned to %u)", function, ptr,
                 align);
  else
    n = snprintf(message, sizeof message, "%s: out of bounds: %llu bytes at 0x%x, memory is %zu bytes", function,
                 (unsigned long long)size, ptr, call->size);
  return native_api.trap_new(message, n < 0 ? 0 : (size_t)n < sizeof message ? (size_t)n : sizeof message - 1);
}

static int native_in_bounds(const native_call_t *call, uint32_t ptr, uint64_t size, uint32_t align) {
  return !(ptr % align) && (uint64_t)ptr + size <= call->size;
}

wasm_trap_t *native_write_strings(const native_call_t *call, uint32_t vector, uint32_t buf,
                                  const native_strings_t *strings, const char *function) {
  uint64_t table = (uint64_t)4 * strings->count;
  if (!native_in_bounds(call, vector, table, 4))
    return native_check(call, vector, table, 4, function);
  if (!native_in_bounds(call, buf, strings->bytes, 1))
    return native_check(call, buf, strings->bytes, 1, function);
  /* One pointer, then its string, in turn: where the guest made the two
     regions overlap, what it reads back is what the Python stub leaves. */
  for (uint32_t i = 0; i < strings->count; i++) {
    uint32_t at = buf + strings->offsets[i];
    uint32_t end = i + 1 < strings->count ? strings->offsets[i + 1] : strings->bytes;
    memcpy(call->base + vector + 4 * (uint64_t)i, &at, 4);
    memcpy(call->base + at, strings->data + strings->offsets[i], end - strings->offsets[i]);
  }
  return NULL;
}

/* args_*, environ_*: the strings the WASI object was given. ---------------- */

uint32_t native_args_get(native_state_t *state, const native_strings_t **strings) {
  *strings = &state->args;
  return 0;
}

uint32_t native_args_sizes_get(native_state_t *state, uint32_t *count, uint32_t *bytes) {
  *count = state->args.count;
  *bytes = state->args.bytes;
  return 0;
}

uint32_t native_environ_get(native_state_t *state, const native_strings_t **strings) {
  *strings = &state->env;
  return 0;
}

uint32_t native_environ_sizes_get(native_state_t *state, uint32_t *count, uint32_t *bytes) {
  *count = state->env.count;
  *bytes = state->env.bytes;
  return 0;
}

/* clock_*: the host's clocks, the monotonic one from the instance's origin. */

static const clockid_t native_clocks[4] = {CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_PROCESS_CPUTIME_ID,
                                           CLOCK_THREAD_CPUTIME_ID};

uint32_t native_clock_res_get(native_state_t *state, uint32_t id, uint64_t *resolution) {
  *resolution = state->resolution[id];
  return 0;
}

uint32_t native_clock_time_get(native_state_t *state, uint32_t id, uint64_t precision, uint64_t *now) {
  (void)precision;
  struct timespec ts;
  if (clock_gettime(native_clocks[id], &ts) != 0)
    return native_errno_of(errno);
  int64_t ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
  *now = (uint64_t)(id == 1 ? ns - state->monotonic_origin : ns);
  return 0;
}

/* random_get: the kernel's CSPRNG. Small requests are served from a pool
   refilled 4 KiB at a time, as handlers/calls/random.py does (a getrandom()
   call costs more than the rest of the call); one pool per thread, so no
   lock, dropped in a forked child, which must not repeat its parent's bytes. */

#define NATIVE_POOL 4096
#define NATIVE_SMALL 256

static atomic_uint native_forks;
static _Thread_local struct {
  uint8_t data[NATIVE_POOL];
  uint32_t pos, len;
  unsigned forks;
} native_pool;

static void native_forked(void) { atomic_fetch_add(&native_forks, 1); }

void native_random_setup(void) { pthread_atfork(NULL, NULL, native_forked); }

static uint32_t native_fill(uint8_t *buf, uint32_t len) {
  while (len > 0) {
    ssize_t n = getrandom(buf, len, 0);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return native_errno_of(errno);
    }
    buf += n;
    len -= (uint32_t)n;
  }
  return 0;
}

uint32_t native_random_get(native_state_t *state, uint8_t *buf, uint32_t len) {
  (void)state;
  if (len > NATIVE_SMALL)
    return native_fill(buf, len);
  unsigned forks = atomic_load_explicit(&native_forks, memory_order_relaxed);
  if (native_pool.forks != forks || native_pool.pos + len > native_pool.len) {
    native_pool.len = 0;
    uint32_t err = native_fill(native_pool.data, NATIVE_POOL);
    if (err != 0)
      return err;
    native_pool.pos = 0;
    native_pool.len = NATIVE_POOL;
    native_pool.forks = forks;
  }
  memcpy(buf, native_pool.data + native_pool.pos, len);
  memset(native_pool.data + native_pool.pos, 0, len); /* what was handed out is not kept */
  native_pool.pos += len;
  return 0;
}

/* sched_yield */

uint32_t native_sched_yield(native_state_t *state) {
  (void)state;
  sched_yield();
  return 0;
}
