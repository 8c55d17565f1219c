/* pywasi._native: the C hot path as a Python extension. Python sees a State
   per WASI object, bound to the store it starts with, and define(), which
   registers a version's callbacks in a linker (pywasi/native.py uses
   both); the callbacks never touch Python unless they hand a call to its
   stub (trampoline.c). */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdlib.h>

#include "native.h"

native_api_t native_api;
unsigned long native_main_thread;
extern PyObject *native_trap_maker, *native_unbound;
extern _Thread_local int native_depth;

/* Versions ---------------------------------------------------------------- */

static const native_function_t *functions_of(const char *version) {
  if (strcmp(version, "preview1") == 0)
    return native_preview1;
  if (strcmp(version, "preview0") == 0)
    return native_preview0;
  return NULL;
}

const char *native_version_of(const native_function_t *table) {
  return table == native_preview1 ? "preview1" : table == native_preview0 ? "preview0" : "?";
}

/* States ------------------------------------------------------------------ */

static void strings_free(native_strings_t *s) {
  free(s->offsets);
  free(s->data);
  memset(s, 0, sizeof *s);
}

/* With the GIL: the last reference drops the stubs too. */
void native_state_release(native_state_t *state) {
  if (atomic_fetch_sub(&state->refs, 1) == 1) {
    strings_free(&state->args);
    strings_free(&state->env);
    Py_XDECREF((PyObject *)state->slots);
    native_fds_free(state->fds);
    free(state);
  }
}

static int strings_from(PyObject *list, native_strings_t *out, const char *what) {
  if (!PyList_Check(list)) {
    PyErr_Format(PyExc_TypeError, "%s must be a list of bytes", what);
    return -1;
  }
  Py_ssize_t count = PyList_GET_SIZE(list);
  uint64_t bytes = 0;
  for (Py_ssize_t i = 0; i < count; i++) {
    PyObject *item = PyList_GET_ITEM(list, i);
    if (!PyBytes_Check(item)) {
      PyErr_Format(PyExc_TypeError, "%s must be a list of bytes", what);
      return -1;
    }
    bytes += (uint64_t)PyBytes_GET_SIZE(item) + 1;
  }
  if (bytes > UINT32_MAX || (uint64_t)count > UINT32_MAX / 4) {
    PyErr_Format(PyExc_OverflowError, "%s take more than 4 GiB", what);
    return -1;
  }
  out->offsets = malloc(sizeof(uint32_t) * (count ? count : 1));
  out->data = malloc(bytes ? bytes : 1);
  if (out->offsets == NULL || out->data == NULL) {
    strings_free(out);
    PyErr_NoMemory();
    return -1;
  }
  uint32_t at = 0;
  for (Py_ssize_t i = 0; i < count; i++) {
    PyObject *item = PyList_GET_ITEM(list, i);
    Py_ssize_t n = PyBytes_GET_SIZE(item);
    out->offsets[i] = at;
    memcpy(out->data + at, PyBytes_AS_STRING(item), n);
    out->data[at + n] = 0;
    at += (uint32_t)n + 1;
  }
  out->count = (uint32_t)count;
  out->bytes = (uint32_t)bytes;
  return 0;
}

typedef struct {
  PyObject_HEAD native_state_t *state;
} StateObject;

static int State_init(StateObject *self, PyObject *args, PyObject *kwargs) {
  static char *names[] = {"version", "args", "env", "monotonic_origin", "resolutions", NULL};
  const char *version;
  PyObject *argv, *env;
  long long origin;
  unsigned long long res[4];
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "sOOL(KKKK)", names, &version, &argv, &env, &origin, &res[0],
                                   &res[1], &res[2], &res[3]))
    return -1;
  const native_function_t *functions = functions_of(version);
  if (functions == NULL) {
    PyErr_Format(PyExc_ValueError, "no functions for version %s", version);
    return -1;
  }
  if (self->state != NULL) {
    PyErr_SetString(PyExc_RuntimeError, "State is initialized once");
    return -1;
  }
  native_state_t *state = calloc(1, sizeof *state);
  if (state == NULL) {
    PyErr_NoMemory();
    return -1;
  }
  atomic_init(&state->refs, 1);
  atomic_init(&state->on, 0);
  atomic_init(&state->enabled, 0);
  atomic_init(&state->calls, 0);
  if (strings_from(argv, &state->args, "args") < 0 || strings_from(env, &state->env, "env") < 0) {
    native_state_release(state);
    return -1;
  }
  state->functions = functions;
  state->fds = native_fds_new();
  if (state->fds == NULL) {
    native_state_release(state);
    PyErr_NoMemory();
    return -1;
  }
  state->monotonic_origin = origin;
  memcpy(state->resolution, res, sizeof res);
  self->state = state;
  return 0;
}

static void State_dealloc(StateObject *self) {
  if (self->state != NULL) {
    atomic_store(&self->state->on, 0);
    atomic_store(&self->state->closed, 1);
    native_state_release(self->state);
  }
  Py_TYPE(self)->tp_free((PyObject *)self);
}

static native_state_t *state_of(StateObject *self) {
  if (self->state == NULL)
    PyErr_SetString(PyExc_RuntimeError, "State is not initialized");
  return self->state;
}

static PyObject *State_enable(StateObject *self, PyObject *arg) {
  native_state_t *state = state_of(self);
  if (state == NULL)
    return NULL;
  unsigned long long mask = PyLong_AsUnsignedLongLong(arg);
  if (PyErr_Occurred())
    return NULL;
  atomic_store(&state->enabled, mask);
  Py_RETURN_NONE;
}

/* bind(context address, the wasmtime_memory_t's bytes, slots): the store
   it is started with, its memory, and the list of stubs its trampolined
   calls go to (changed in place by the bridge). Once; refused when another
   WASI object not yet closed is bound to that store. */
static PyObject *State_bind(StateObject *self, PyObject *args) {
  native_state_t *state = state_of(self);
  unsigned long long context;
  Py_buffer memory;
  PyObject *slots;
  if (state == NULL || !PyArg_ParseTuple(args, "Ky*O!", &context, &memory, &PyList_Type, &slots))
    return NULL;
  if (memory.len > NATIVE_MEMORY_BYTES) {
    PyBuffer_Release(&memory);
    return PyErr_Format(PyExc_ValueError, "a wasmtime_memory_t of %zd bytes", memory.len);
  }
  if (state->context != NULL) {
    PyBuffer_Release(&memory);
    return PyErr_Format(PyExc_RuntimeError, "State is bound once");
  }
  memset(state->memory, 0, sizeof state->memory);
  memcpy(state->memory, memory.buf, memory.len);
  PyBuffer_Release(&memory);
  Py_INCREF(slots);
  state->slots = slots;
  state->context = (wasmtime_context_t *)(uintptr_t)context;
  int refused = native_register(state->context, state);
  if (refused) {
    state->context = NULL;
    Py_CLEAR(state->slots);
    return refused == -1 ? PyErr_Format(PyExc_ValueError, "this store is bound to another WASI object, not closed")
                         : PyErr_NoMemory();
  }
  Py_RETURN_NONE;
}

/* close(): its WASI object was closed (its store may bind another). */
static PyObject *State_close(StateObject *self, PyObject *unused) {
  (void)unused;
  native_state_t *state = state_of(self);
  if (state == NULL)
    return NULL;
  atomic_store(&state->closed, 1); /* first: see State_switch */
  atomic_store(&state->on, 0);
  Py_RETURN_NONE;
}

static PyObject *State_in_flight(StateObject *self, PyObject *unused) {
  (void)unused;
  native_state_t *state = state_of(self);
  if (state == NULL)
    return NULL;
  return PyLong_FromLong(atomic_load(&state->in_flight));
}

/* switch(on): once closed, it stays off (a stop taken back on another
   thread while close() runs must not turn C on again). */
static PyObject *State_switch(StateObject *self, PyObject *arg) {
  native_state_t *state = state_of(self);
  if (state == NULL)
    return NULL;
  int on = PyObject_IsTrue(arg);
  if (on < 0)
    return NULL;
  if (on && state->context == NULL) {
    PyErr_SetString(PyExc_RuntimeError, "State is not bound to a store");
    return NULL;
  }
  atomic_store_explicit(&state->on, on, memory_order_release);
  if (atomic_load(&state->closed))
    atomic_store_explicit(&state->on, 0, memory_order_release);
  Py_RETURN_NONE;
}

static PyObject *State_calls(StateObject *self, PyObject *unused) {
  (void)unused;
  native_state_t *state = state_of(self);
  if (state == NULL)
    return NULL;
  return PyLong_FromUnsignedLongLong(atomic_load_explicit(&state->calls, memory_order_relaxed));
}

/* The fd table's mirror (fds.h) --------------------------------------------- */

/* Unpublish fd's entry and wait, the GIL released, until no C call uses
   it; returns with the GIL held and the entry unused, so that what the
   caller does next (publish, or let Python close the host fd) no C call
   sees half done. */
static void fd_quiesce(native_state_t *state, uint32_t fd) {
  while (!native_fd_quiesce(state->fds, fd)) {
    Py_BEGIN_ALLOW_THREADS native_fd_wait(state->fds, fd);
    Py_END_ALLOW_THREADS
  }
}

/* fd_set(fd, kind, host, filetype, fdflags, rights_base, rights_inheriting, may_block) */
static PyObject *State_fd_set(StateObject *self, PyObject *args) {
  native_state_t *state = state_of(self);
  unsigned int fd, filetype, fdflags;
  const char *kind_name;
  int host, may_block;
  unsigned long long base, inheriting;
  if (state == NULL || !PyArg_ParseTuple(args, "IsiIIKKp", &fd, &kind_name, &host, &filetype, &fdflags, &base,
                                         &inheriting, &may_block))
    return NULL;
  int kind = native_fd_kind(kind_name);
  if (kind < 0)
    return PyErr_Format(PyExc_ValueError, "no descriptor kind %s in C", kind_name);
  fd_quiesce(state, fd);
  unsigned how = (unsigned)kind | (may_block ? NATIVE_FD_MAY_BLOCK : 0);
  if (native_fd_publish(state->fds, fd, how, host, (uint8_t)filetype, (uint16_t)fdflags, base, inheriting) < 0)
    return PyErr_NoMemory();
  Py_RETURN_NONE;
}

static PyObject *State_fd_clear(StateObject *self, PyObject *arg) {
  native_state_t *state = state_of(self);
  unsigned long fd = PyLong_AsUnsignedLong(arg);
  if (state == NULL || PyErr_Occurred())
    return NULL;
  if (fd <= UINT32_MAX)
    fd_quiesce(state, (uint32_t)fd);
  Py_RETURN_NONE;
}

static PyObject *State_moved(StateObject *self, PyObject *unused) {
  (void)unused;
  native_state_t *state = state_of(self);
  if (state == NULL)
    return NULL;
  return Py_BuildValue("KK", (unsigned long long)atomic_load(&state->fds->bytes_read),
                       (unsigned long long)atomic_load(&state->fds->bytes_written));
}

static PyMethodDef State_methods[] = {
    {"fd_set", (PyCFunction)State_fd_set, METH_VARARGS,
     "fd_set(fd, kind, host, filetype, fdflags, rights_base, rights_inheriting, may_block): publish an fd"},
    {"fd_clear", (PyCFunction)State_fd_clear, METH_O, "fd_clear(fd): unpublish an fd, once no C call uses it"},
    {"moved", (PyCFunction)State_moved, METH_NOARGS, "moved(): (bytes read, bytes written) by C calls"},
    {"calls", (PyCFunction)State_calls, METH_NOARGS, "calls(): host calls from the bound store, in C and through the trampoline"},
    {"enable", (PyCFunction)State_enable, METH_O, "enable(mask): the NATIVE_* bits served in C"},
    {"bind", (PyCFunction)State_bind, METH_VARARGS, "bind(context, memory, slots): the store started with"},
    {"switch", (PyCFunction)State_switch, METH_O, "switch(on): serve enabled calls in C, or all in Python"},
    {"close", (PyCFunction)State_close, METH_NOARGS, "close(): the WASI object was closed"},
    {"in_flight", (PyCFunction)State_in_flight, METH_NOARGS, "in_flight(): calls in Python under way"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject StateType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "pywasi._native.State",
    .tp_basicsize = sizeof(StateObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "One WASI object's native state.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)State_init,
    .tp_dealloc = (destructor)State_dealloc,
    .tp_methods = State_methods,
};

/* Module ------------------------------------------------------------------- */



/* init(trap_new, caller_context, memory_data, memory_data_size,
   define_unchecked, main thread ident, trap maker, unbound): once. */
static PyObject *init_api(PyObject *module, PyObject *args) {
  unsigned long long trap_new, caller_context, memory_data, memory_data_size, define_unchecked;
  unsigned long main_thread;
  PyObject *trap_maker, *unbound;
  if (!PyArg_ParseTuple(args, "KKKKKkOO", &trap_new, &caller_context, &memory_data, &memory_data_size,
                        &define_unchecked, &main_thread, &trap_maker, &unbound))
    return NULL;
  if (!trap_new || !caller_context || !memory_data || !memory_data_size || !define_unchecked)
    return PyErr_Format(PyExc_ValueError, "a wasmtime C API function is missing");
  if (!PyCallable_Check(trap_maker) || !PyCallable_Check(unbound))
    return PyErr_Format(PyExc_TypeError, "the trap maker and unbound must be callable");
  native_main_thread = main_thread;
  native_api.trap_new = (wasm_trap_t * (*)(const char *, size_t))(uintptr_t)trap_new;
  native_api.caller_context = (wasmtime_context_t * (*)(wasmtime_caller_t *))(uintptr_t)caller_context;
  native_api.memory_data = (uint8_t * (*)(const wasmtime_context_t *, const void *))(uintptr_t)memory_data;
  native_api.memory_data_size = (size_t(*)(const wasmtime_context_t *, const void *))(uintptr_t)memory_data_size;
  native_api.define_unchecked =
      (wasmtime_error_t * (*)(void *, const char *, size_t, const char *, size_t, const wasm_functype_t *,
                              native_callback_t, void *, void (*)(void *)))(uintptr_t)define_unchecked;
  Py_INCREF(trap_maker);
  Py_XSETREF(native_trap_maker, trap_maker);
  Py_INCREF(unbound);
  Py_XSETREF(native_unbound, unbound);
  Py_RETURN_NONE;
}

/* define(linker address, version, namespace, [functype address, ...]): every
   function of the version, registered in the linker, in FUNCTIONS order.
   Returns 0, or the address of wasmtime's error (for wasmtime-py to raise). */
static PyObject *define(PyObject *module, PyObject *args) {
  (void)module;
  unsigned long long linker;
  const char *version, *namespace;
  Py_ssize_t namespace_len;
  PyObject *types;
  if (!PyArg_ParseTuple(args, "Kss#O!", &linker, &version, &namespace, &namespace_len, &PyList_Type, &types))
    return NULL;
  const native_function_t *f = functions_of(version);
  if (f == NULL)
    return PyErr_Format(PyExc_ValueError, "no functions for version %s", version);
  Py_ssize_t n = 0;
  for (; f[n].name != NULL; n++)
    ;
  if (PyList_GET_SIZE(types) != n)
    return PyErr_Format(PyExc_ValueError, "%zd function types for %zd functions", PyList_GET_SIZE(types), n);
  for (Py_ssize_t i = 0; i < n; i++) {
    void *type = PyLong_AsVoidPtr(PyList_GET_ITEM(types, i));
    if (type == NULL)
      return PyErr_Occurred() ? NULL : PyErr_Format(PyExc_ValueError, "no function type for %s", f[i].name);
    wasmtime_error_t *error = native_api.define_unchecked((void *)(uintptr_t)linker, namespace, namespace_len,
                                                          f[i].name, strlen(f[i].name), type, f[i].callback,
                                                          (void *)&f[i], NULL);
    if (error != NULL)
      return PyLong_FromVoidPtr(error);
  }
  return PyLong_FromLong(0);
}

/* forget(context address): the store is being deleted. */
static PyObject *forget(PyObject *module, PyObject *arg) {
  (void)module;
  void *context = PyLong_AsVoidPtr(arg);
  if (context == NULL && PyErr_Occurred())
    return NULL;
  native_forget(context);
  Py_RETURN_NONE;
}

static PyObject *bound(PyObject *module, PyObject *unused) {
  (void)module, (void)unused;
  return PyLong_FromSize_t(native_bound());
}

static PyObject *depth(PyObject *module, PyObject *unused) {
  (void)module, (void)unused;
  return PyLong_FromLong(native_depth);
}

/* functions(version): [(name, NATIVE_* bit or -1), ...] in FUNCTIONS order. */
static PyObject *functions(PyObject *module, PyObject *arg) {
  (void)module;
  const char *version = PyUnicode_AsUTF8(arg);
  if (version == NULL)
    return NULL;
  const native_function_t *f = functions_of(version);
  if (f == NULL)
    return PyErr_Format(PyExc_ValueError, "no functions for version %s", version);
  PyObject *out = PyList_New(0);
  for (; out != NULL && f->name != NULL; f++) {
    PyObject *item = Py_BuildValue("(si)", f->name, (int)f->id);
    if (item == NULL || PyList_Append(out, item) < 0) {
      Py_XDECREF(item);
      Py_CLEAR(out);
      break;
    }
    Py_DECREF(item);
  }
  return out;
}

static PyMethodDef module_methods[] = {
    {"init", init_api, METH_VARARGS,
     "init(trap_new, caller_context, memory_data, memory_data_size, define_unchecked, main_thread_ident, "
     "trap_maker, unbound)"},
    {"functions", functions, METH_O, "functions(version): [(name, NATIVE_* bit or -1)] in FUNCTIONS order"},
    {"define", define, METH_VARARGS, "define(linker, version, namespace, functypes): register a version"},
    {"forget", forget, METH_O, "forget(context): the store is being deleted"},
    {"bound", bound, METH_NOARGS, "bound(): how many stores are bound to a state"},
    {"depth", depth, METH_NOARGS, "depth(): calls into Python stubs under way on this thread"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "pywasi._native", "pywasi's host calls in C (see pywasi/native.py).", -1,
    module_methods,
};

PyMODINIT_FUNC PyInit__native(void) {
  if (PyType_Ready(&StateType) < 0)
    return NULL;
  native_random_setup();
  PyObject *module = PyModule_Create(&module_def);
  if (module == NULL)
    return NULL;
  Py_INCREF(&StateType);
  if (PyModule_AddObject(module, "State", (PyObject *)&StateType) < 0) {
    Py_DECREF(module);
    return NULL;
  }
  return module;
}
