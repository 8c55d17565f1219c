/* pywasi._native: the C hot path as a Python extension. Python sees a State
   per WASI object and the addresses of the callbacks to register with
   wasmtime_linker_define_func_unchecked (pywasi/native.py does that); the
   callbacks themselves never touch Python unless they hand a call to its
   Python callback. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdlib.h>

#include "native.h"

native_api_t native_api;
unsigned long native_main_thread;
_Thread_local uint32_t native_countdown;

/* States ------------------------------------------------------------------ */

static void strings_free(native_strings_t *s) {
  free(s->offsets);
  free(s->data);
  memset(s, 0, sizeof *s);
}

void native_state_release(native_state_t *state) {
  if (atomic_fetch_sub(&state->refs, 1) == 1) {
    strings_free(&state->args);
    strings_free(&state->env);
    free(state);
  }
}

/* Entries are dropped by wasmtime when it drops the function, on whatever
   thread does that: no Python here but the fallback's own finalizer (a ctypes
   callback, which takes the GIL itself). */
static void native_entry_finalize(void *env) {
  native_entry_t *entry = env;
  if (entry->release != NULL)
    entry->release(entry->key);
  native_state_release(entry->state);
  free(entry);
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
  static char *names[] = {"args", "env", "monotonic_origin", "resolutions", NULL};
  PyObject *argv, *env;
  long long origin;
  unsigned long long res[4];
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOL(KKKK)", names, &argv, &env, &origin, &res[0], &res[1],
                                   &res[2], &res[3]))
    return -1;
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
  state->monotonic_origin = origin;
  memcpy(state->resolution, res, sizeof res);
  self->state = state;
  return 0;
}

static void State_dealloc(StateObject *self) {
  if (self->state != NULL) {
    atomic_store(&self->state->on, 0);
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
  unsigned long long mask = PyLong_AsUnsignedLongLong(arg);
  if (state == NULL || PyErr_Occurred())
    return NULL;
  atomic_store(&state->enabled, mask);
  Py_RETURN_NONE;
}

/* bind(context address, the wasmtime_memory_t's bytes): the store it is
   started with and its memory. Only while off. */
static PyObject *State_bind(StateObject *self, PyObject *args) {
  native_state_t *state = state_of(self);
  unsigned long long context;
  Py_buffer memory;
  if (state == NULL || !PyArg_ParseTuple(args, "Ky*", &context, &memory))
    return NULL;
  if (memory.len > NATIVE_MEMORY_BYTES) {
    PyBuffer_Release(&memory);
    return PyErr_Format(PyExc_ValueError, "a wasmtime_memory_t of %zd bytes", memory.len);
  }
  atomic_store(&state->on, 0);
  state->context = (wasmtime_context_t *)(uintptr_t)context;
  memset(state->memory, 0, sizeof state->memory);
  memcpy(state->memory, memory.buf, memory.len);
  PyBuffer_Release(&memory);
  Py_RETURN_NONE;
}

static PyObject *State_switch(StateObject *self, PyObject *arg) {
  native_state_t *state = state_of(self);
  int on = PyObject_IsTrue(arg);
  if (state == NULL || on < 0)
    return NULL;
  if (on && state->context == NULL) {
    PyErr_SetString(PyExc_RuntimeError, "State is not bound to a store");
    return NULL;
  }
  atomic_store_explicit(&state->on, on, memory_order_release);
  Py_RETURN_NONE;
}

static const native_function_t *functions_of(const char *version) {
  if (strcmp(version, "preview1") == 0)
    return native_preview1;
  if (strcmp(version, "preview0") == 0)
    return native_preview0;
  return NULL;
}

/* entry(version, name, fallback, release, key) -> (callback, env): what to
   register for one function. The env holds a reference to the state until
   wasmtime finalizes it (FINALIZER). */
static PyObject *State_entry(StateObject *self, PyObject *args) {
  native_state_t *state = state_of(self);
  const char *version, *name;
  unsigned long long fallback, release, key;
  if (state == NULL || !PyArg_ParseTuple(args, "ssKKK", &version, &name, &fallback, &release, &key))
    return NULL;
  const native_function_t *f = functions_of(version);
  if (f == NULL)
    return PyErr_Format(PyExc_ValueError, "no native functions for version %s", version);
  for (; f->name != NULL && strcmp(f->name, name) != 0; f++)
    ;
  if (f->name == NULL)
    return PyErr_Format(PyExc_KeyError, "%s is not served natively", name);
  native_entry_t *entry = calloc(1, sizeof *entry);
  if (entry == NULL)
    return PyErr_NoMemory();
  atomic_fetch_add(&state->refs, 1);
  entry->state = state;
  entry->fallback = (size_t(*)(void *, void *, void *))(uintptr_t)fallback;
  entry->release = (void (*)(void *))(uintptr_t)release;
  entry->key = (void *)(uintptr_t)key;
  return Py_BuildValue("KK", (unsigned long long)(uintptr_t)f->callback, (unsigned long long)(uintptr_t)entry);
}

static PyObject *State_calls(StateObject *self, PyObject *unused) {
  (void)unused;
  native_state_t *state = state_of(self);
  if (state == NULL)
    return NULL;
  return PyLong_FromUnsignedLongLong(atomic_load_explicit(&state->calls, memory_order_relaxed));
}

static PyMethodDef State_methods[] = {
    {"calls", (PyCFunction)State_calls, METH_NOARGS, "calls(): how many calls C has served"},
    {"enable", (PyCFunction)State_enable, METH_O, "enable(mask): the NATIVE_* bits served in C"},
    {"bind", (PyCFunction)State_bind, METH_VARARGS, "bind(context, memory): the store and memory started with"},
    {"switch", (PyCFunction)State_switch, METH_O, "switch(on): serve enabled calls in C, or all in Python"},
    {"entry", (PyCFunction)State_entry, METH_VARARGS, "entry(version, name, fallback, release, key)"},
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

static PyObject *init_api(PyObject *module, PyObject *args) {
  unsigned long long trap_new, caller_context, memory_data, memory_data_size;
  unsigned long main_thread;
  if (!PyArg_ParseTuple(args, "KKKKk", &trap_new, &caller_context, &memory_data, &memory_data_size,
                        &main_thread))
    return NULL;
  native_main_thread = main_thread;
  if (!trap_new || !caller_context || !memory_data || !memory_data_size)
    return PyErr_Format(PyExc_ValueError, "a wasmtime C API function is missing");
  native_api.trap_new = (wasm_trap_t * (*)(const char *, size_t))(uintptr_t)trap_new;
  native_api.caller_context = (wasmtime_context_t * (*)(wasmtime_caller_t *))(uintptr_t)caller_context;
  native_api.memory_data = (uint8_t * (*)(const wasmtime_context_t *, const void *))(uintptr_t)memory_data;
  native_api.memory_data_size = (size_t(*)(const wasmtime_context_t *, const void *))(uintptr_t)memory_data_size;
  Py_RETURN_NONE;
}

static PyObject *functions(PyObject *module, PyObject *arg) {
  const char *version = PyUnicode_AsUTF8(arg);
  if (version == NULL)
    return NULL;
  const native_function_t *f = functions_of(version);
  PyObject *out = PyDict_New();
  for (; out != NULL && f != NULL && f->name != NULL; f++) {
    PyObject *bit = PyLong_FromUnsignedLong(f->id);
    if (bit == NULL || PyDict_SetItemString(out, f->name, bit) < 0) {
      Py_XDECREF(bit);
      Py_CLEAR(out);
      break;
    }
    Py_DECREF(bit);
  }
  return out;
}

static PyMethodDef module_methods[] = {
    {"init", init_api, METH_VARARGS,
     "init(trap_new, caller_context, memory_data, memory_data_size, main_thread_ident)"},
    {"functions", functions, METH_O, "functions(version): {name: NATIVE_* bit} of the calls served in C"},
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
  if (PyModule_AddObject(module, "State", (PyObject *)&StateType) < 0 ||
      PyModule_AddObject(module, "FINALIZER",
                         PyLong_FromUnsignedLongLong((unsigned long long)(uintptr_t)native_entry_finalize)) < 0) {
    Py_DECREF(module);
    return NULL;
  }
  return module;
}
