/* Role: the dependency recorder's audit hook in C (loaded by python/fastest_harness/deps.py
 * with ctypes). CPython calls every audit hook for every audit event, and `builtins.id`,
 * `object.__getattr__` and the like are raised very often (copy.deepcopy calls id() per
 * object); a hook written in Python costs a Python call each time. This one forwards only
 * the events the recorder reads to its Python callback and returns at once for the rest.
 *
 * Built by crates/fastest-runner/build.rs as a shared object with no link to libpython:
 * the Python C API symbols below are resolved from the interpreter that loads it (all are
 * exported by CPython 3.11 and later; `PySys_AddAuditHook` and the tracing pair are not
 * in the limited API). deps.py loads it only on 3.11+.
 *
 * Two things CPython does for hooks added with `sys.addaudithook` and not for C hooks,
 * done here by hand so the recorder stays invisible to the tests:
 * - tracing is paused while the callback runs (debuggers, profilers, `sys.monitoring`
 *   and coverage never see the recorder's frames);
 * - the hook belongs to one interpreter: events raised in a subinterpreter (a test's
 *   `concurrent.interpreters`) are not forwarded (the recorder lives in the main one). */
#include <string.h>

typedef struct _object PyObject;
typedef struct _ts PyThreadState;
typedef struct _is PyInterpreterState;
typedef int (*AuditHook)(const char *event, PyObject *args, void *user_data);

extern int PySys_AddAuditHook(AuditHook hook, void *user_data);
extern PyObject *PyObject_CallFunctionObjArgs(PyObject *callable, ...);
extern PyObject *PyUnicode_FromString(const char *text);
extern void Py_IncRef(PyObject *object);
extern void Py_DecRef(PyObject *object);
extern PyThreadState *PyThreadState_Get(void);
extern PyInterpreterState *PyInterpreterState_Get(void);
extern void PyThreadState_EnterTracing(PyThreadState *tstate);
extern void PyThreadState_LeaveTracing(PyThreadState *tstate);

static PyInterpreterState *recording_interpreter;

static int forward_recorded_events(const char *event, PyObject *args, void *callback) {
    if (strcmp(event, "open") != 0 && strcmp(event, "os.listdir") != 0 &&
        strcmp(event, "os.scandir") != 0) {
        return 0;
    }
    if (PyInterpreterState_Get() != recording_interpreter) {
        return 0;
    }
    PyObject *name = PyUnicode_FromString(event);
    if (name == NULL) {
        return -1;
    }
    PyThreadState *tstate = PyThreadState_Get();
    PyThreadState_EnterTracing(tstate);
    PyObject *result = PyObject_CallFunctionObjArgs((PyObject *)callback, name, args, NULL);
    PyThreadState_LeaveTracing(tstate);
    Py_DecRef(name);
    if (result == NULL) {
        return -1;
    }
    Py_DecRef(result);
    return 0;
}

/* Called with the GIL held (ctypes.PyDLL). The callback lives as long as the process:
 * audit hooks cannot be removed. Returns PySys_AddAuditHook's result; 0 does not prove
 * the hook was added (an existing hook may veto it silently): deps.py checks with a probe
 * event. */
__attribute__((visibility("default"))) int fastest_add_audit_hook(PyObject *callback) {
    Py_IncRef(callback);
    recording_interpreter = PyInterpreterState_Get();
    return PySys_AddAuditHook(forward_recorded_events, callback);
}
