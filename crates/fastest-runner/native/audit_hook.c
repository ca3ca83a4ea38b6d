/* Role: the dependency recorder's audit hook in C (loaded by python/fastest_harness/deps.py
 * with ctypes). CPython calls every audit hook for every audit event, and `builtins.id`,
 * `object.__getattr__` and the like are raised very often (copy.deepcopy calls id() per
 * object); a hook written in Python costs a Python call each time. This one forwards only
 * the events the recorder reads to its Python callback and returns at once for the rest.
 *
 * Built by crates/fastest-runner/build.rs as a shared object with no link to libpython:
 * the Python C API symbols below are resolved from the interpreter that loads it. Only
 * functions of the stable ABI, present since Python 3.8, are used. */
#include <string.h>

typedef struct _object PyObject;
typedef int (*AuditHook)(const char *event, PyObject *args, void *user_data);

extern int PySys_AddAuditHook(AuditHook hook, void *user_data);
extern PyObject *PyObject_CallFunctionObjArgs(PyObject *callable, ...);
extern PyObject *PyUnicode_FromString(const char *text);
extern void Py_IncRef(PyObject *object);
extern void Py_DecRef(PyObject *object);

static int forward_recorded_events(const char *event, PyObject *args, void *callback) {
    if (strcmp(event, "open") != 0 && strcmp(event, "os.listdir") != 0 &&
        strcmp(event, "os.scandir") != 0) {
        return 0;
    }
    PyObject *name = PyUnicode_FromString(event);
    if (name == NULL) {
        return -1;
    }
    PyObject *result = PyObject_CallFunctionObjArgs((PyObject *)callback, name, args, NULL);
    Py_DecRef(name);
    if (result == NULL) {
        return -1;
    }
    Py_DecRef(result);
    return 0;
}

/* Called with the GIL held (ctypes.PyDLL). The callback lives as long as the process:
 * audit hooks cannot be removed. Returns PySys_AddAuditHook's result (0: installed). */
int fastest_add_audit_hook(PyObject *callback) {
    Py_IncRef(callback);
    return PySys_AddAuditHook(forward_recorded_events, callback);
}
