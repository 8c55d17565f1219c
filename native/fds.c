/* The fd calls served in C: the semantics of handlers/calls/fd.py over the
   descriptors whose reads and writes live on a host fd (descriptors/file.py
   File, descriptors/stdio.py HostStream without an output limit,
   descriptors/socket.py Connection and Listener), through hostfd.py HostFd,
   without the GIL. What the mirror (fds.h) does not publish goes to Python.

   Python waits where a stop (a timeout, a cancel, Ctrl-C) can end the wait
   (handlers/wait.py): a read or write of an fd that can block (a pipe, a
   terminal, a socket) polls first. C cannot be stopped, so it never waits:
   it serves such a call only when the fd is ready now (poll with no
   timeout), and a blocking-mode write only when it is no longer than
   PIPE_BUF, which a ready fd takes without waiting (what Python writes at a
   time after its wait). Everything else there, and a call a signal
   interrupted (EINTR, nothing moved), goes to Python, which waits, runs the
   signal's handler and answers as it always does. */

#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "native.h"

/* handlers/wait.py: READ, WRITE and HANGUP. */
#define NATIVE_POLL_HANGUP (POLLHUP | POLLERR | POLLRDHUP)
#define NATIVE_POLL_READ (POLLIN | POLLPRI)
#define NATIVE_POLL_WRITE POLLOUT

/* Iovecs ------------------------------------------------------------------- */

wasm_trap_t *native_iovecs(const native_call_t *call, native_iovecs_t *out, uint32_t ptr, uint32_t count,
                           uint32_t unit, uint32_t buf_offset, uint32_t len_offset, const char *function,
                           uint32_t *err) {
  out->v = out->room;
  out->count = count;
  out->total = 0;
  if (count > call->state->fds->iov_max) {
    *err = WASI_EINVAL;
    return NULL;
  }
  if (count > NATIVE_IOVECS_INLINE) {
    out->heap = malloc(sizeof(struct iovec) * count);
    if (out->heap == NULL) {
      *err = NATIVE_FALLBACK; /* Python answers as it does without memory */
      return NULL;
    }
    out->v = out->heap;
  }
  const uint8_t *record = call->base + ptr;
  for (uint32_t i = 0; i < count; i++, record += unit) {
    uint32_t buf, len;
    memcpy(&buf, record + buf_offset, sizeof buf);
    memcpy(&len, record + len_offset, sizeof len);
    if ((uint64_t)buf + len > call->size) {
      free(out->heap);
      out->heap = NULL;
      return native_check(call, buf, len, 1, function);
    }
    out->v[i].iov_base = call->base + buf;
    out->v[i].iov_len = len;
    out->total += len;
  }
  return NULL;
}

/* The mirror --------------------------------------------------------------- */

native_fds_t *native_fds_new(void) {
  native_fds_t *fds = calloc(1, sizeof *fds);
  if (fds == NULL)
    return NULL;
  long iov_max = sysconf(_SC_IOV_MAX);
  fds->iov_max = iov_max > 0 && iov_max < UINT32_MAX ? (uint32_t)iov_max : 1024;
  long pipe_buf = pathconf("/", _PC_PIPE_BUF);
  fds->atomic_write = pipe_buf > 0 ? (uint32_t)pipe_buf : PIPE_BUF;
  return fds;
}

void native_fds_free(native_fds_t *fds) {
  if (fds == NULL)
    return;
  for (int i = 0; i < NATIVE_FD_CHUNKS; i++)
    free(atomic_load(&fds->chunks[i]));
  free(fds);
}

static native_fd_t *native_fd_entry(native_fds_t *fds, uint32_t fd) {
  if (fd >= NATIVE_FDS)
    return NULL;
  native_fd_t *chunk = atomic_load_explicit(&fds->chunks[fd / NATIVE_FD_CHUNK], memory_order_acquire);
  return chunk == NULL ? NULL : &chunk[fd % NATIVE_FD_CHUNK];
}

int native_fd_quiesce(native_fds_t *fds, uint32_t fd) {
  native_fd_t *e = native_fd_entry(fds, fd);
  if (e == NULL)
    return 1;
  atomic_store(&e->how, NATIVE_FD_PYTHON);
  return atomic_load(&e->users) == 0;
}

void native_fd_wait(native_fds_t *fds, uint32_t fd) {
  native_fd_t *e = native_fd_entry(fds, fd);
  for (unsigned spins = 0; e != NULL && atomic_load(&e->users) != 0; spins++) {
    if (spins < 64) {
      sched_yield();
    } else {
      struct timespec pause = {0, 50000};
      nanosleep(&pause, NULL);
    }
  }
}

int native_fd_publish(native_fds_t *fds, uint32_t fd, unsigned how, int host, uint8_t filetype, uint16_t fdflags,
                      uint64_t rights_base, uint64_t rights_inheriting) {
  if (fd >= NATIVE_FDS)
    return 0;
  _Atomic(native_fd_t *) *slot = &fds->chunks[fd / NATIVE_FD_CHUNK];
  native_fd_t *chunk = atomic_load_explicit(slot, memory_order_acquire);
  if (chunk == NULL) {
    size_t bytes = sizeof(native_fd_t) * NATIVE_FD_CHUNK;
    chunk = aligned_alloc(_Alignof(native_fd_t), bytes);
    if (chunk == NULL)
      return -1;
    memset(chunk, 0, bytes); /* every entry unpublished and unused */
    atomic_store_explicit(slot, chunk, memory_order_release);
  }
  native_fd_t *e = &chunk[fd % NATIVE_FD_CHUNK];
  e->host = host;
  e->filetype = filetype;
  atomic_store_explicit(&e->fdflags, fdflags, memory_order_relaxed);
  atomic_store_explicit(&e->rights_base, rights_base, memory_order_relaxed);
  atomic_store_explicit(&e->rights_inheriting, rights_inheriting, memory_order_relaxed);
  atomic_store(&e->how, how);
  return 0;
}

int native_fd_kind(const char *name) {
  static const char *const kinds[] = {
      [NATIVE_FD_FILE] = "file",
      [NATIVE_FD_STREAM] = "stream",
      [NATIVE_FD_CONNECTION] = "connection",
      [NATIVE_FD_LISTENER] = "listener",
  };
  for (int kind = NATIVE_FD_FILE; kind <= NATIVE_FD_LISTENER; kind++)
    if (strcmp(name, kinds[kind]) == 0)
      return kind;
  return -1;
}

/* One call's use of an entry: counted in, then checked to be published. */
typedef struct {
  native_fd_t *entry;
  unsigned how;
  int host;
} native_use_t;

static int native_fd_take(native_state_t *state, uint32_t fd, native_use_t *use) {
  native_fd_t *e = native_fd_entry(state->fds, fd);
  if (e == NULL)
    return 0;
  atomic_fetch_add(&e->users, 1);
  unsigned how = atomic_load(&e->how);
  if (how == NATIVE_FD_PYTHON) {
    atomic_fetch_sub_explicit(&e->users, 1, memory_order_release);
    return 0;
  }
  use->entry = e;
  use->how = how;
  use->host = e->host;
  return 1;
}

static void native_fd_give(const native_use_t *use) {
  atomic_fetch_sub_explicit(&use->entry->users, 1, memory_order_release);
}

/* FdTable.get's rights check (the descriptor's presence is the entry's). */
static uint32_t native_fd_lacks(const native_use_t *use, uint64_t rights) {
  uint64_t base = atomic_load_explicit(&use->entry->rights_base, memory_order_relaxed);
  return rights & ~base ? WASI_ENOTCAPABLE : 0;
}

static int native_nonblocking(const native_use_t *use) {
  return atomic_load_explicit(&use->entry->fdflags, memory_order_relaxed) & WASI_FDFLAGS_NONBLOCK;
}

/* wait.py's ready(): whether the fd has one of `events` (or hangs up) now.
   -1: interrupted, for Python to answer. */
static int native_ready(int fd, short events) {
  struct pollfd p = {.fd = fd, .events = events | NATIVE_POLL_HANGUP};
  int n = poll(&p, 1, 0);
  return n < 0 ? -1 : n > 0;
}

/* A failed host call's answer: one a signal interrupted goes to Python. */
static uint32_t native_failed(int error) { return error == EINTR ? NATIVE_FALLBACK : native_errno_of(error); }

/* Reads and writes --------------------------------------------------------- */

/* Socket.read (recvmsg_into) and Socket.write (sendmsg, never SIGPIPE). A
   blocking one waits in Python unless the socket is ready now; then it goes
   without waiting, as Python's does after its wait. */
static uint32_t native_socket_io(const native_use_t *use, const native_iovecs_t *iovs, int write, uint32_t *n) {
  if (iovs->count == 0) {
    *n = 0;
    return 0;
  }
  int wait = !native_nonblocking(use); /* a Connection's NONBLOCK is its socket's own mode */
  int flags = write ? MSG_NOSIGNAL : 0;
  if (wait) {
    if (native_ready(use->host, write ? NATIVE_POLL_WRITE : NATIVE_POLL_READ) <= 0)
      return NATIVE_FALLBACK;
    flags |= MSG_DONTWAIT;
  }
  struct msghdr msg = {.msg_iov = iovs->v, .msg_iovlen = iovs->count};
  ssize_t done = write ? sendmsg(use->host, &msg, flags) : recvmsg(use->host, &msg, flags);
  if (done < 0)
    return wait && (errno == EAGAIN || errno == EWOULDBLOCK) ? NATIVE_FALLBACK : native_failed(errno);
  *n = (uint32_t)done;
  return 0;
}

/* HostStream.read, HostFd.read */
static uint32_t native_read_on(const native_use_t *use, const native_iovecs_t *iovs, uint32_t *n) {
  unsigned kind = use->how & NATIVE_FD_KIND;
  if (kind == NATIVE_FD_CONNECTION)
    return native_socket_io(use, iovs, 0, n);
  if (kind == NATIVE_FD_LISTENER)
    return NATIVE_FALLBACK;
  int nonblock = native_nonblocking(use);
  if (kind == NATIVE_FD_STREAM && nonblock) { /* emulated: the host fd keeps its own mode */
    int ready = native_ready(use->host, NATIVE_POLL_READ);
    if (ready <= 0)
      return ready < 0 ? NATIVE_FALLBACK : WASI_EAGAIN;
  } else if (use->how & NATIVE_FD_MAY_BLOCK && !nonblock) {
    if (native_ready(use->host, NATIVE_POLL_READ) <= 0)
      return NATIVE_FALLBACK; /* Python waits */
  }
  ssize_t done = readv(use->host, iovs->v, (int)iovs->count);
  if (done < 0)
    return native_failed(errno);
  *n = (uint32_t)done;
  return 0;
}

/* HostStream.write (without a limit), HostFd.write */
static uint32_t native_write_on(native_state_t *state, const native_use_t *use, const native_iovecs_t *iovs,
                                uint32_t *n) {
  unsigned kind = use->how & NATIVE_FD_KIND;
  int nonblock = native_nonblocking(use);
  int may_block = (use->how & NATIVE_FD_MAY_BLOCK) != 0;
  if (kind == NATIVE_FD_LISTENER)
    return NATIVE_FALLBACK;
  if (kind == NATIVE_FD_CONNECTION) {
    if (!nonblock && iovs->total > state->fds->atomic_write)
      return NATIVE_FALLBACK;
    return native_socket_io(use, iovs, 1, n);
  }
  if (kind == NATIVE_FD_STREAM && nonblock) { /* emulated: the host fd keeps its own mode */
    int ready = native_ready(use->host, NATIVE_POLL_WRITE);
    if (ready <= 0)
      return ready < 0 ? NATIVE_FALLBACK : WASI_EAGAIN;
  }
  /* A write that can block: only what a ready fd takes at once. */
  if (may_block && (!nonblock || kind == NATIVE_FD_STREAM)) {
    if (iovs->total > state->fds->atomic_write)
      return NATIVE_FALLBACK;
    if (!nonblock && native_ready(use->host, NATIVE_POLL_WRITE) <= 0)
      return NATIVE_FALLBACK; /* Python waits */
  }
  ssize_t done = writev(use->host, iovs->v, (int)iovs->count);
  if (done < 0)
    return native_failed(errno);
  *n = (uint32_t)done;
  return 0;
}

/* The handlers (handlers/calls/fd.py) -------------------------------------- */

/* File.pread and File.pwrite take an offset up to off_t's largest. */
#define NATIVE_MAX_OFFSET INT64_MAX

uint32_t native_fd_read(native_state_t *state, uint32_t fd, const native_iovecs_t *iovs, uint32_t *r0) {
  native_use_t use;
  if (!native_fd_take(state, fd, &use))
    return NATIVE_FALLBACK;
  uint32_t err = native_fd_lacks(&use, WASI_RIGHTS_FD_READ);
  if (err == 0)
    err = native_read_on(&use, iovs, r0);
  native_fd_give(&use);
  if (err == 0)
    atomic_fetch_add_explicit(&state->fds->bytes_read, *r0, memory_order_relaxed);
  return err;
}

uint32_t native_fd_write(native_state_t *state, uint32_t fd, const native_iovecs_t *iovs, uint32_t *r0) {
  native_use_t use;
  if (!native_fd_take(state, fd, &use))
    return NATIVE_FALLBACK;
  uint32_t err = native_fd_lacks(&use, WASI_RIGHTS_FD_WRITE);
  if (err == 0)
    err = native_write_on(state, &use, iovs, r0);
  native_fd_give(&use);
  if (err == 0)
    atomic_fetch_add_explicit(&state->fds->bytes_written, *r0, memory_order_relaxed);
  return err;
}

/* File.pread and File.pwrite; any other kind is Descriptor's: ESPIPE. */
static uint32_t native_positioned(native_state_t *state, uint32_t fd, const native_iovecs_t *iovs, uint64_t offset,
                                  int write, uint32_t *r0) {
  native_use_t use;
  if (!native_fd_take(state, fd, &use))
    return NATIVE_FALLBACK;
  uint32_t err = native_fd_lacks(&use, (write ? WASI_RIGHTS_FD_WRITE : WASI_RIGHTS_FD_READ) | WASI_RIGHTS_FD_SEEK);
  if (err == 0 && (use.how & NATIVE_FD_KIND) != NATIVE_FD_FILE)
    err = WASI_ESPIPE;
  if (err == 0 && offset > NATIVE_MAX_OFFSET)
    err = WASI_EINVAL;
  if (err == 0) {
    ssize_t done = write ? pwritev(use.host, iovs->v, (int)iovs->count, (off_t)offset)
                         : preadv(use.host, iovs->v, (int)iovs->count, (off_t)offset);
    if (done < 0)
      err = native_failed(errno);
    else
      *r0 = (uint32_t)done;
  }
  native_fd_give(&use);
  if (err == 0)
    atomic_fetch_add_explicit(write ? &state->fds->bytes_written : &state->fds->bytes_read, *r0,
                              memory_order_relaxed);
  return err;
}

uint32_t native_fd_pread(native_state_t *state, uint32_t fd, const native_iovecs_t *iovs, uint64_t offset,
                         uint32_t *r0) {
  return native_positioned(state, fd, iovs, offset, 0, r0);
}

uint32_t native_fd_pwrite(native_state_t *state, uint32_t fd, const native_iovecs_t *iovs, uint64_t offset,
                          uint32_t *r0) {
  return native_positioned(state, fd, iovs, offset, 1, r0);
}

/* HostFd.seek: lseek, with the canonical whence as the host's. */
static const int native_whence[] = {
    [WASI_WHENCE_SET] = SEEK_SET,
    [WASI_WHENCE_CUR] = SEEK_CUR,
    [WASI_WHENCE_END] = SEEK_END,
};

static uint32_t native_lseek(native_state_t *state, uint32_t fd, uint64_t rights, int64_t offset, int whence,
                             uint64_t *r0) {
  native_use_t use;
  if (!native_fd_take(state, fd, &use))
    return NATIVE_FALLBACK;
  uint32_t err = native_fd_lacks(&use, rights);
  if (err == 0) {
    off_t at = lseek(use.host, (off_t)offset, whence);
    if (at < 0)
      err = native_failed(errno);
    else
      *r0 = (uint64_t)at;
  }
  native_fd_give(&use);
  return err;
}

uint32_t native_fd_seek(native_state_t *state, uint32_t fd, int64_t offset, uint32_t whence, uint64_t *r0) {
  /* FdCalls.fd_seek: FD_SEEK "implies FD_TELL", so a seek that only asks
     where the position is needs no more than FD_TELL. */
  uint64_t rights = offset == 0 && whence == WASI_WHENCE_CUR ? WASI_RIGHTS_FD_TELL : WASI_RIGHTS_FD_SEEK;
  return native_lseek(state, fd, rights, offset, native_whence[whence], r0);
}

uint32_t native_fd_tell(native_state_t *state, uint32_t fd, uint64_t *r0) {
  return native_lseek(state, fd, WASI_RIGHTS_FD_TELL, 0, SEEK_CUR, r0);
}

/* Descriptor.fdstat */
uint32_t native_fd_fdstat_get(native_state_t *state, uint32_t fd, native_fdstat_t *r0) {
  native_use_t use;
  if (!native_fd_take(state, fd, &use))
    return NATIVE_FALLBACK;
  r0->fs_filetype = use.entry->filetype;
  r0->fs_flags = atomic_load_explicit(&use.entry->fdflags, memory_order_relaxed);
  r0->fs_rights_base = atomic_load_explicit(&use.entry->rights_base, memory_order_relaxed);
  r0->fs_rights_inheriting = atomic_load_explicit(&use.entry->rights_inheriting, memory_order_relaxed);
  native_fd_give(&use);
  return 0;
}
