/* The fd calls served in C (fd_read, fd_write, fd_pread, fd_pwrite, fd_seek,
   fd_tell, fd_fdstat_get) and what they stand on: guest iovec lists, and a
   mirror of the fd table that Python keeps in step (pywasi/native.py,
   FdMirror; handlers/fdtable.py calls it).

   The mirror holds, per guest fd, what a C call needs: the host fd, the
   descriptor's kind (how its Python class reads and writes), filetype,
   fdflags and rights. An entry that is not published (a free number, a kind
   C does not serve: memory files, directories, captured or limited stdio)
   sends the call to Python.

   A host fd number must never be used after Python closed it: the host's
   next open() may get the same number. So each entry counts the C calls
   using it (`users`). A C call counts itself in, then checks that the entry
   is still published; Python unpublishes an entry, then waits until no call
   uses it, before it closes, renumbers or republishes it. Both sides use
   sequentially consistent atomics, so either the call sees the entry gone
   or Python sees the call. The wait is short: a C call never blocks (it
   serves only what cannot wait, see fds.c), and it leaves the entry before
   it hands a call to Python. */

#ifndef PYWASI_NATIVE_FDS_H
#define PYWASI_NATIVE_FDS_H

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/uio.h>

#include "runtime.h"

/* What a handler answers to hand its call to Python, unchanged. */
#define NATIVE_FALLBACK UINT32_MAX

/* A call a handler declined after native_begin counted it: to the Python
   stub, through the trampoline, which counts it again. */
static inline wasm_trap_t *native_decline(void *env, wasmtime_caller_t *caller, wasmtime_val_raw_t *args,
                                          size_t nargs, native_call_t *call) {
  atomic_fetch_sub_explicit(&call->state->calls, 1, memory_order_relaxed);
  return native_trampoline(env, caller, args, nargs);
}

/* Guest iovecs ------------------------------------------------------------- */

#define NATIVE_IOVECS_INLINE 8

/* An iovec or ciovec list, as host iovecs into guest memory. `heap` holds
   lists longer than the inline room; the callback frees it. */
typedef struct {
  struct iovec *v;
  uint32_t count;
  uint64_t total; /* bytes */
  struct iovec *heap;
  struct iovec room[NATIVE_IOVECS_INLINE];
} native_iovecs_t;

/* `count` records of `unit` bytes at `ptr` (already checked), each a buffer
   pointer and length at the given offsets, as GuestMemory.buffers reads
   them: more than IOV_MAX is EINVAL (in *err), before any buffer is looked
   at; a buffer out of bounds traps with the stub's message. */
wasm_trap_t *native_iovecs(const native_call_t *call, native_iovecs_t *out, uint32_t ptr, uint32_t count,
                           uint32_t unit, uint32_t buf_offset, uint32_t len_offset, const char *function,
                           uint32_t *err);

/* The mirror --------------------------------------------------------------- */

/* A descriptor's kind: which Python class's reads and writes C has. */
enum {
  NATIVE_FD_PYTHON = 0,  /* not published: every call goes to Python */
  NATIVE_FD_FILE,        /* descriptors/file.py File: its own host fd, NONBLOCK is the fd's mode */
  NATIVE_FD_STREAM,      /* descriptors/stdio.py HostStream, no output limit: NONBLOCK emulated */
  NATIVE_FD_CONNECTION,  /* descriptors/socket.py Connection: NONBLOCK is the socket's mode */
  NATIVE_FD_LISTENER,    /* descriptors/socket.py Listener: no data calls */
};
#define NATIVE_FD_KIND 0xff
#define NATIVE_FD_MAY_BLOCK 0x100 /* HostFd.may_block: a pipe, a terminal, a socket */

#define NATIVE_FD_CHUNK 256
#define NATIVE_FD_CHUNKS 256
#define NATIVE_FDS (NATIVE_FD_CHUNK * NATIVE_FD_CHUNKS) /* guest fds past it go to Python */

typedef struct {
  _Alignas(64) atomic_uint users; /* C calls using the entry now */
  atomic_uint how;                /* kind | NATIVE_FD_MAY_BLOCK; NATIVE_FD_PYTHON: not published */
  int host;                       /* written only while unpublished and unused */
  uint8_t filetype;
  atomic_uint_least16_t fdflags;
  atomic_uint_least64_t rights_base, rights_inheriting;
} native_fd_t;

typedef struct native_fds {
  _Atomic(native_fd_t *) chunks[NATIVE_FD_CHUNKS]; /* allocated when first published to */
  atomic_uint_least64_t bytes_read, bytes_written;  /* moved by C calls, for a usage record */
  uint32_t iov_max;                                 /* as pywasi.runtime.memory.IOV_MAX */
  uint32_t atomic_write;                            /* as descriptors/hostfd.py ATOMIC_WRITE */
} native_fds_t;

native_fds_t *native_fds_new(void);
void native_fds_free(native_fds_t *fds);

/* Python's side, with the GIL held but for native_fd_wait. To change an
   entry: native_fd_quiesce until it answers 1 (native_fd_wait between, the
   GIL released), then native_fd_publish, without releasing the GIL between
   the last quiesce and the publish. */
int native_fd_quiesce(native_fds_t *fds, uint32_t fd); /* unpublish; 1 once no call uses it */
void native_fd_wait(native_fds_t *fds, uint32_t fd);   /* until no call uses it */
int native_fd_publish(native_fds_t *fds, uint32_t fd, unsigned how, int host, uint8_t filetype, uint16_t fdflags,
                      uint64_t rights_base, uint64_t rights_inheriting); /* -1: out of memory */
int native_fd_kind(const char *name); /* "file", "stream", ...; -1 for another */

#endif
