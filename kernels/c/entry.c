/* symgraph native entry: checks a call's arguments, computes every step's shape, allocates
 * the outputs and runs the steps' kernels, all in one CPython call (issue 10, W1). A call
 * this code does not take (keywords, other types, dtypes, shapes, layouts) goes to the
 * entry's Python fallback before anything has run, so every error message and conversion
 * stays the Python path's. One module for every function (no per-function code, no
 * template: a warm process loads it without rendering), built once and cached like the
 * kernels; symgraph/codegen/native_entry.py writes each function's plan. */
#define NPY_NO_DEPRECATED_API NPY_1_7_API_VERSION
#include <numpy/arrayobject.h>
#include <stdint.h>

typedef int (*sg_kernel)(int, int64_t, void **, const int64_t *);

/* the plan, a flat int64 array (native_entry.py writes it):
 *   header  n_in n_slots n_steps n_out single
 *   input   descr ndim dim... (-1: any size)                                 n_in times
 *   const   slot object                                     n_consts (after its count)
 *   step    fn k n_args out inplace descr ndim nogil n_frees free... then per argument
 *           kind (0 slot, 1 raw pointer) value full                       n_steps times
 *   output  slot                                                          n_out times
 * "descr" and "object" index the entry's `keep` tuple. */
enum { H_IN, H_SLOTS, H_STEPS, H_OUT, H_SINGLE, H_LEN };

typedef struct {
    PyObject_HEAD
    PyObject *fallback;      /* callable(*args, **kwargs): the Python fast call */
    PyObject *keep;          /* tuple: dtypes and constants the plan names, the program */
    int64_t *code;
    Py_ssize_t n_code;
    const int64_t *steps;    /* where the steps start in code */
    const int64_t *outputs;
} Entry;

static const npy_intp sg_ones[NPY_MAXDIMS] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};

/* what the check pass knows of a slot before anything runs */
typedef struct {
    PyObject *obj;           /* the value: an input's or constant's (borrowed), or computed */
    const npy_intp *dims;
    int nd;
    int contig;
    int owned;
} Slot;

static int same_dims(const npy_intp *a, const npy_intp *b, int nd)
{
    for (int d = 0; d < nd; ++d)
        if (a[d] != b[d]) return 0;
    return 1;
}

static void release(Slot *slots, int64_t n)
{
    for (int64_t i = 0; i < n; ++i)
        if (slots[i].owned) {
            Py_CLEAR(slots[i].obj);
            slots[i].owned = 0;
        }
}

/* 1: every step can run here (slots' shapes filled in); 0: the fallback takes the call */
static int check(const Entry *e, Slot *slots)
{
    const int64_t *p = e->steps;
    for (int64_t s = 0; s < e->code[H_STEPS]; ++s) {
        int64_t n_args = p[2], out = p[3], inplace = p[4], nd = p[6], n_frees = p[8];
        const int64_t *arg = p + 9 + n_frees;
        const npy_intp *dims = NULL;
        for (int64_t j = 0; j < n_args; ++j, arg += 3) {
            if (arg[0] != 0) continue;
            const Slot *v = &slots[arg[1]];
            if (v->obj == NULL && v->dims == NULL) return 0;    /* not a value: unreachable */
            if (nd && !v->contig) return 0;
            if (arg[2]) {
                if (v->nd != nd) return 0;
                if (dims == NULL) dims = v->dims;
                else if (!same_dims(dims, v->dims, (int)nd)) return 0;
            }
        }
        if (inplace >= 0) {
            const int64_t *a = p + 9 + n_frees + 3 * inplace;
            const Slot *v = &slots[a[1]];
            if (v->nd != nd) return 0;
            dims = v->dims;
        }
        slots[out].dims = dims ? dims : sg_ones;
        slots[out].nd = (int)nd;
        slots[out].contig = 1;
        p = arg;
    }
    return 1;
}

static PyObject *run(Entry *e, PyObject *const *args)
{
    const int64_t *c = e->code;
    int64_t n_slots = c[H_SLOTS];
    Slot slots[n_slots > 0 ? n_slots : 1];
    memset(slots, 0, sizeof(Slot) * (size_t)(n_slots > 0 ? n_slots : 1));
    const int64_t *p = c + H_LEN;
    for (int64_t i = 0; i < c[H_IN]; ++i) {
        PyObject *a = args[i];
        int64_t nd = p[1];
        if (Py_TYPE(a) != &PyArray_Type) return Py_NotImplemented;
        PyArrayObject *arr = (PyArrayObject *)a;
        if ((PyObject *)PyArray_DESCR(arr) != PyTuple_GET_ITEM(e->keep, p[0]) ||
                PyArray_NDIM(arr) != nd)
            return Py_NotImplemented;
        const npy_intp *dims = PyArray_DIMS(arr);
        for (int64_t d = 0; d < nd; ++d)
            if (p[2 + d] >= 0 && dims[d] != p[2 + d]) return Py_NotImplemented;
        slots[i] = (Slot){a, dims, (int)nd, PyArray_IS_C_CONTIGUOUS(arr), 0};
        p += 2 + nd;
    }
    for (int64_t n_consts = *p++; n_consts > 0; --n_consts, p += 2) {
        PyArrayObject *arr = (PyArrayObject *)PyTuple_GET_ITEM(e->keep, p[1]);
        slots[p[0]] = (Slot){(PyObject *)arr, PyArray_DIMS(arr), PyArray_NDIM(arr),
                             PyArray_IS_C_CONTIGUOUS(arr), 0};
    }
    if (!check(e, slots)) return Py_NotImplemented;

    p = e->steps;
    for (int64_t s = 0; s < c[H_STEPS]; ++s) {
        int64_t n_args = p[2], out = p[3], inplace = p[4], nogil = p[7], n_frees = p[8];
        const int64_t *frees = p + 9, *arg = p + 9 + n_frees;
        void *ptrs[n_args + 1];
        PyObject *o;
        if (inplace >= 0) {
            o = slots[arg[3 * inplace + 1]].obj;
            Py_INCREF(o);
        } else {
            PyArray_Descr *descr = (PyArray_Descr *)PyTuple_GET_ITEM(e->keep, p[5]);
            Py_INCREF(descr);                       /* PyArray_NewFromDescr steals it */
            o = PyArray_NewFromDescr(&PyArray_Type, descr, (int)slots[out].nd,
                                     (npy_intp *)slots[out].dims, NULL, NULL, 0, NULL);
            if (o == NULL) { release(slots, n_slots); return NULL; }
        }
        /* the output's dims now live in its own array (an input's may be freed below) */
        slots[out] = (Slot){o, PyArray_DIMS((PyArrayObject *)o), slots[out].nd, 1, 1};
        for (int64_t j = 0; j < n_args; ++j, arg += 3)
            ptrs[j] = arg[0] ? (void *)(intptr_t)arg[1]
                             : PyArray_DATA((PyArrayObject *)slots[arg[1]].obj);
        ptrs[n_args] = PyArray_DATA((PyArrayObject *)o);
        int64_t size = PyArray_SIZE((PyArrayObject *)o);
        sg_kernel fn = (sg_kernel)(intptr_t)p[0];
        int rc;
        if (size >= nogil) {
            Py_BEGIN_ALLOW_THREADS
            rc = fn((int)p[1], size, ptrs, NULL);
            Py_END_ALLOW_THREADS
        } else {
            rc = fn((int)p[1], size, ptrs, NULL);
        }
        if (rc != 0) {
            release(slots, n_slots);
            PyErr_Format(PyExc_RuntimeError, "symgraph: kernel %d returned %d",
                         (int)p[1], rc);
            return NULL;
        }
        for (int64_t f = 0; f < n_frees; ++f)
            if (slots[frees[f]].owned && frees[f] != out) {
                Py_CLEAR(slots[frees[f]].obj);
                slots[frees[f]].owned = 0;
            }
        p = arg;
    }

    const int64_t *outs = e->outputs;
    PyObject *result;
    if (c[H_SINGLE]) {
        result = slots[outs[0]].obj;
        Py_INCREF(result);
    } else {
        result = PyList_New(c[H_OUT]);
        if (result != NULL)
            for (int64_t i = 0; i < c[H_OUT]; ++i) {
                Py_INCREF(slots[outs[i]].obj);
                PyList_SET_ITEM(result, i, slots[outs[i]].obj);
            }
    }
    release(slots, n_slots);
    return result;
}

static PyObject *entry_call(PyObject *self, PyObject *args, PyObject *kwargs)
{
    Entry *e = (Entry *)self;
    if ((kwargs == NULL || PyDict_GET_SIZE(kwargs) == 0) &&
            PyTuple_GET_SIZE(args) == e->code[H_IN]) {
        PyObject *r = run(e, &PyTuple_GET_ITEM(args, 0));
        if (r != Py_NotImplemented) return r;
    }
    return PyObject_Call(e->fallback, args, kwargs);
}

static int entry_traverse(PyObject *self, visitproc visit, void *arg)
{
    Py_VISIT(((Entry *)self)->fallback);
    Py_VISIT(((Entry *)self)->keep);
    return 0;
}

static int entry_clear(PyObject *self)
{
    Py_CLEAR(((Entry *)self)->fallback);
    Py_CLEAR(((Entry *)self)->keep);
    return 0;
}

static void entry_dealloc(PyObject *self)
{
    PyObject_GC_UnTrack(self);
    entry_clear(self);
    PyMem_Free(((Entry *)self)->code);
    Py_TYPE(self)->tp_free(self);
}

static PyTypeObject EntryType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "symgraph.NativeEntry",
    .tp_basicsize = sizeof(Entry),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "A compiled function's native call (symgraph.codegen.native_entry).",
    .tp_call = entry_call,
    .tp_traverse = entry_traverse,
    .tp_clear = entry_clear,
    .tp_dealloc = entry_dealloc,
    .tp_free = PyObject_GC_Del,
};

/* (fallback, keep, code bytes) -> a new entry; called through ctypes with the GIL held */
void *sg_entry_new(void *spec_)
{
    static int ready = 0;
    PyObject *spec = (PyObject *)spec_;
    if (!ready) {
        if (_import_array() < 0 || PyType_Ready(&EntryType) < 0) return NULL;
        ready = 1;
    }
    PyObject *fallback, *keep, *code;
    if (!PyArg_ParseTuple(spec, "OO!S", &fallback, &PyTuple_Type, &keep, &code)) return NULL;
    Entry *e = PyObject_GC_New(Entry, &EntryType);
    if (e == NULL) return NULL;
    e->n_code = PyBytes_GET_SIZE(code) / (Py_ssize_t)sizeof(int64_t);
    e->code = PyMem_Malloc(sizeof(int64_t) * (size_t)(e->n_code + 1));
    Py_INCREF(fallback);
    Py_INCREF(keep);
    e->fallback = fallback;
    e->keep = keep;
    if (e->code == NULL) {
        Py_DECREF(e);
        return PyErr_NoMemory();
    }
    memcpy(e->code, PyBytes_AS_STRING(code), sizeof(int64_t) * (size_t)e->n_code);
    /* where the steps and the outputs start: walk the inputs, constants and steps once */
    const int64_t *p = e->code + H_LEN;
    for (int64_t i = 0; i < e->code[H_IN]; ++i) p += 2 + p[1];
    p += 1 + 2 * p[0];
    e->steps = p;
    for (int64_t s = 0; s < e->code[H_STEPS]; ++s) p += 9 + p[8] + 3 * p[2];
    e->outputs = p;
    PyObject_GC_Track((PyObject *)e);
    return e;
}

/* cffi needs one declared function to build the module */
int sg_entry_abi(void) { return 1; }
