/* The trampoline: a call C does not serve, handed to its Python stub.

   It is what a ctypes callback did, without ctypes: take the GIL, pass the
   stub the core arguments as ints (unsigned, as the stubs read them),
   store its errno. Unlike a ctypes callback it sees every exception the
   stub lets out, even one raised at its first bytecode (an async exception,
   a signal handler's), and turns it into a trap: Python's trap maker
   (pywasi/bridge.py) keeps the exception for whoever entered the guest and
   words the trap. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <time.h>

#include "native.h"

PyObject *native_trap_maker; /* bridge's (name, exception) -> trap address */
/* (name, its version, the store's WASI object's version or None) -> raises:
   a call from a store no WASI object of its version was started with */
PyObject *native_unbound;
_Thread_local int native_depth; /* trampoline calls under way on this thread */

static _Thread_local uint32_t countdown;
static _Thread_local uint64_t last_python;

int native_python_due(void) {
  if (++countdown % 64)
    return 0;
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  uint64_t now = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
  if (now - last_python < NATIVE_PYTHON_EVERY_NS)
    return 0;
  last_python = now;
  return 1;
}

static wasm_trap_t *trap_of(const char *message) { return native_api.trap_new(message, strlen(message)); }

static PyObject *raised(void) {
  PyObject *type, *value, *tb;
  PyErr_Fetch(&type, &value, &tb);
  PyErr_NormalizeException(&type, &value, &tb);
  if (value != NULL && tb != NULL)
    PyException_SetTraceback(value, tb);
  Py_XDECREF(type);
  Py_XDECREF(tb);
  return value;
}

/* The trap for the exception being raised. The trap maker is Python too, so
   an exception can be raised at its first bytecode as well: that one is
   the one to report, and the maker is asked again. */
static wasm_trap_t *trap_from_exception(const native_function_t *f) {
  for (int attempt = 0; attempt < 8; attempt++) {
    PyObject *error = raised();
    if (error == NULL)
      break;
    PyObject *trap = native_trap_maker != NULL ? PyObject_CallFunction(native_trap_maker, "sO", f->name, error) : NULL;
    Py_DECREF(error);
    if (trap != NULL) {
      void *address = PyLong_AsVoidPtr(trap);
      Py_DECREF(trap);
      if (address != NULL)
        return address;
      if (!PyErr_Occurred())
        break;
    }
  }
  if (PyErr_Occurred())
    PyErr_WriteUnraisable(NULL);
  char message[128];
  snprintf(message, sizeof message, "pywasi: %s failed", f->name);
  return trap_of(message);
}

wasm_trap_t *native_trampoline(void *env, wasmtime_caller_t *caller, wasmtime_val_raw_t *args, size_t nargs) {
  (void)nargs;
  const native_function_t *f = env;
  const native_function_t *table = f - f->index;
  PyGILState_STATE gil = PyGILState_Ensure();
  native_state_t *state = native_lookup(native_api.caller_context(caller));
  wasm_trap_t *trap = NULL;
  PyObject *result;
  native_depth++;
  if (state == NULL) {
    result = PyObject_CallFunction(native_unbound, "ssO", f->name, native_version_of(table), Py_None);
  } else if (state->functions != table) {
    result = PyObject_CallFunction(native_unbound, "sss", f->name, native_version_of(table),
                                   native_version_of(state->functions));
  } else {
    atomic_fetch_add_explicit(&state->calls, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&state->in_flight, 1, memory_order_acq_rel);
    PyObject *argv[NATIVE_MAX_PARAMS + 1] = {NULL};
    PyObject *slots = state->slots;
    PyObject *stub = NULL;
    uint32_t made = 0;
    for (; made < f->params; made++) {
      PyObject *value = (f->wide >> made) & 1 ? PyLong_FromUnsignedLongLong((uint64_t)args[made].i64)
                                              : PyLong_FromUnsignedLong((uint32_t)args[made].i32);
      if (value == NULL)
        break;
      argv[made + 1] = value;
    }
    if (made == f->params && slots != NULL && (Py_ssize_t)f->index < PyList_GET_SIZE(slots)) {
      stub = PyList_GET_ITEM(slots, f->index);
      Py_INCREF(stub);
      result = PyObject_Vectorcall(stub, argv + 1, f->params | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
      Py_DECREF(stub);
    } else {
      if (!PyErr_Occurred())
        PyErr_Format(PyExc_RuntimeError, "no stub for %s", f->name);
      result = NULL;
    }
    for (uint32_t i = 0; i < made; i++)
      Py_DECREF(argv[i + 1]);
    atomic_fetch_sub_explicit(&state->in_flight, 1, memory_order_acq_rel);
  }
  if (result == NULL) {
    trap = trap_from_exception(f);
  } else {
    if (f->results && result != Py_None) {
      long errno_ = PyLong_AsLong(result);
      if (!(errno_ == -1 && PyErr_Occurred()) && (errno_ < INT32_MIN || errno_ > INT32_MAX))
        PyErr_Format(PyExc_OverflowError, "%s returned %ld, not an i32", f->name, errno_);
      if (PyErr_Occurred())
        trap = trap_from_exception(f);
      else
        args[0].i32 = (int32_t)errno_;
    }
    Py_DECREF(result);
  }
  native_depth--;
  PyGILState_Release(gil);
  return trap;
}
