/* symgraph native entry: a compiled function's whole call in one CPython call (issue 10,
 * W1). The inputs are checked as the generated Python call checks them; a call this code
 * does not take (keywords, other types, dtypes, static sizes) goes to that Python call, the
 * entry's fallback, before anything has run, so its conversions and messages stay; then
 * the shared variables' values are read. Each step runs from here: Elemwise, Dot, Gemm and
 * reduction kernels called directly, their outputs allocated here, when their arguments
 * allow (else the step's Python `general`/`compute`, as the Python path does), other steps
 * through their Python compute/perform. Results that could alias are copied and the
 * updates written under the function's lock. One module for every function (no
 * per-function code, no template: nothing to render), built by setup.py as
 * symgraph._entry, or else into the compile cache; native_entry.py writes each plan. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#define NPY_NO_DEPRECATED_API NPY_1_7_API_VERSION
#define NPY_TARGET_VERSION NPY_1_22_API_VERSION     /* PyDataMem_SetHandler */
#include <numpy/arrayobject.h>
#include <numpy/arrayscalars.h>               /* PyArrayScalar_VAL */
#include <pythread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#if NPY_ABI_VERSION < 0x02000000                    /* numpy < 2: no accessor */
#define PyDataType_ELSIZE(descr) ((descr)->elsize)
#endif

typedef int (*sg_kernel)(int, int64_t, void **, const int64_t *);

/* the plan, a flat int64 array (native_entry.py writes it):
 *   header  n_in n_slots n_steps n_out single n_shared n_updates
 *   input   descr ndim dim... (-1: any size)                                 n_in times
 *   shared  container: its .value fills slot n_in + i                    n_shared times
 *   const   slot object                                     n_consts (after its count)
 *   step    kind n_args n_outs n_frees free... out... then by kind:
 *           ELEMWISE fn k inplace descr ndim nogil general n_ins, the n_ins argument
 *                    slots (general's arguments), then per kernel argument (n_args)
 *                    kind (0 slot, 1 raw pointer) value flags (bit 0: not of all-1
 *                    shape; bit 1 + d: its type's dim d is 1, d < 32)
 *           DOT      fn k descr nda ndb nogil compute, then the two argument slots: the
 *                    kernel with BLAS's M N K and strides when both operands are ndarrays
 *                    of the output's dtype that BLAS takes as they are (else compute)
 *           GEMM     fn k descr nda ndb nogil compute inplace, then the argument slots
 *                    (z alpha x y beta, then ordering-only ones): as DOT, with z copied
 *                    (or written in place) and the two scalars
 *           REDUCE   fn k in_descr out_descr fold needs_items keepdims nogil compute n_axes
 *                    axis... ndim, then the argument slot: the kernel with the layout
 *                    reduce_c.py's compute makes, for a non-empty ndarray of the input's
 *                    dtype (else compute)
 *           COMPUTE  callable, then the argument slots: out = callable([args])
 *           PERFORM  callable node, then the argument slots: callable(node, [args], cells)
 *           DIMSHUFFLE callable node in_ndim out_ndim order... (-1: a new dim of 1) n_drop
 *                    drop..., then the argument slot: the view made here when the
 *                    argument is an ndarray of in_ndim dims whose dropped dims are 1
 *                    (else PERFORM's call, which raises the error)
 *           SHAPE    callable node which n_data data..., then the argument slots: the
 *                    value of a shape or view op made here (which: Shape_i, data its dim;
 *                    MakeVector of int64 scalars; Reshape, data its ndim; Shape; Subtensor,
 *                    data its index, see `subtensor`) when the arguments are what it takes
 *                    (else PERFORM's call, which also raises the op's errors)
 *                                                                         n_steps times
 *   result  slot, then copy (1: the caller gets a copy)     n_out + n_updates times
 *   update  container: .value = the result after the outputs         n_updates times
 *           lock (only when n_updates): held while the updates are written
 * "descr", "object", "general", "callable", "node", "container" and "lock" index the
 * entry's `keep` tuple, whose item 0 is on_error(step, [args], exception), which raises
 * the error to report, and item 1 copy(value) for results not ndarrays. */
enum { H_IN, H_SLOTS, H_STEPS, H_OUT, H_SINGLE, H_SHARED, H_UPDATES, H_LEN };
enum { ELEMWISE, COMPUTE, PERFORM, DOT, REDUCE, GEMM, DIMSHUFFLE, SHAPE };
enum { SHAPE_I, MAKEVECTOR, RESHAPE, SHAPE_OF, SUBTENSOR };
enum { S_KIND, S_NARGS, S_NOUTS, S_NFREES, S_LEN };

typedef struct {
    PyObject_HEAD
    PyObject *fallback;      /* callable(*args, **kwargs): the Python fast call */
    PyObject *keep;          /* tuple: on_error, dtypes, constants, callables, the program */
    int64_t *code;
    Py_ssize_t n_code;
    const int64_t *outputs;
} Entry;

#define KEEP(e, i) PyTuple_GET_ITEM((e)->keep, (i))

static void release(PyObject **slots, const char *owned, int64_t n)
{
    for (int64_t i = 0; i < n; ++i)
        if (owned[i]) Py_CLEAR(slots[i]);
}

static PyObject *arg_list(PyObject **slots, const int64_t *arg, int64_t n)
{
    PyObject *list = PyList_New(n);
    if (list == NULL) return NULL;
    for (int64_t j = 0; j < n; ++j) {
        PyObject *v = slots[arg[j]];
        if (v == NULL) v = Py_None;
        Py_INCREF(v);
        PyList_SET_ITEM(list, j, v);
    }
    return list;
}

/* the error of step `s`: on_error names the op, the values and the user's line */
static void step_error(const Entry *e, int64_t s, PyObject *args)
{
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    if (tb != NULL && value != NULL) PyException_SetTraceback(value, tb);
    if (args != NULL && value != NULL) {
        PyObject *r = PyObject_CallFunction(KEEP(e, 0), "LOO", (long long)s, args, value);
        Py_XDECREF(r);           /* on_error raises: r is NULL and its error is set */
        Py_XDECREF(type);
        Py_XDECREF(value);
        Py_XDECREF(tb);
        return;
    }
    PyErr_Restore(type, value, tb);
}

/* -- large outputs in reused memory ---------------------------------------------------
 * A block over 32 MiB is a fresh mmap on every glibc malloc (smaller ones come back from
 * its heap once one was freed), and the kernel that first writes it also pays the page
 * faults and the zeroing of every page (W2's 80 MB output: 64 -> 54 ms on one thread,
 * 34-38 -> 27 ms on two, when the memory is reused). So outputs of at least POOL_MIN
 * bytes are allocated through a numpy memory handler whose free keeps the block (up to
 * POOL_SLOTS blocks and pool_cap bytes, config.alloc_cache_mb) and whose next malloc of
 * the same size takes it back. The arrays stay ordinary (they own their data; numpy
 * frees through the handler they were made with). Below 32 MiB the pool measured no
 * gain (W5's 32 MB products: 1 % slower). */
#define POOL_MIN ((size_t)32 << 20)
#define POOL_SLOTS 8
static struct { void *p; size_t n; } pool[POOL_SLOTS];
static int pool_len;
static size_t pool_bytes, pool_cap;
static PyThread_type_lock pool_lock;
static PyObject *pool_handler;          /* the capsule numpy's SetHandler takes */

static void *pool_malloc(void *ctx, size_t n)
{
    (void)ctx;
    PyThread_acquire_lock(pool_lock, WAIT_LOCK);
    for (int i = 0; i < pool_len; ++i) {
        if (pool[i].n == n) {
            void *p = pool[i].p;
            pool[i] = pool[--pool_len];
            pool_bytes -= n;
            PyThread_release_lock(pool_lock);
            return p;
        }
    }
    PyThread_release_lock(pool_lock);
    void *p = NULL;
    if (posix_memalign(&p, 4096, n ? n : 1)) return NULL;
#ifdef MADV_HUGEPAGE
    madvise(p, n, MADV_HUGEPAGE);       /* as numpy's own allocator does for large arrays */
#endif
    return p;
}

static void *pool_calloc(void *ctx, size_t k, size_t size)
{
    (void)ctx;
    return calloc(k, size);
}

static void *pool_realloc(void *ctx, void *p, size_t n)
{
    (void)ctx;
    return realloc(p, n);
}

/* with the lock held: free blocks until the pool fits `cap` */
static void pool_trim(size_t cap)
{
    while (pool_len && pool_bytes > cap) {
        --pool_len;
        pool_bytes -= pool[pool_len].n;
        free(pool[pool_len].p);
    }
}

static void pool_free(void *ctx, void *p, size_t n)
{
    (void)ctx;
    if (p == NULL) return;
    PyThread_acquire_lock(pool_lock, WAIT_LOCK);
    if (n >= POOL_MIN && n <= pool_cap) {
        while (pool_len == POOL_SLOTS || pool_bytes + n > pool_cap) {
            /* the oldest blocks make room: the newest sizes are the ones in use */
            pool_bytes -= pool[0].n;
            free(pool[0].p);
            memmove(pool, pool + 1, sizeof(pool[0]) * (size_t)--pool_len);
        }
        pool[pool_len].p = p;
        pool[pool_len++].n = n;
        pool_bytes += n;
        p = NULL;
    }
    PyThread_release_lock(pool_lock);
    free(p);
}

static PyDataMem_Handler pool_mem = {
    "symgraph_reuse", 1, {NULL, pool_malloc, pool_calloc, pool_realloc, pool_free}};

/* a new C-contiguous array; through the reusing handler when it is large */
static PyObject *new_array(PyObject *descr, int nd, npy_intp *dims)
{
    size_t n = (size_t)PyDataType_ELSIZE((PyArray_Descr *)descr);
    for (int d = 0; d < nd; ++d) n *= (size_t)dims[d];
    Py_INCREF(descr);                           /* PyArray_NewFromDescr steals it */
    if (n < POOL_MIN || n > pool_cap)
        return PyArray_NewFromDescr(&PyArray_Type, (PyArray_Descr *)descr, nd, dims, NULL,
                                    NULL, 0, NULL);
    PyObject *old = PyDataMem_SetHandler(pool_handler);
    if (old == NULL) {
        Py_DECREF(descr);
        return NULL;
    }
    PyObject *o = PyArray_NewFromDescr(&PyArray_Type, (PyArray_Descr *)descr, nd, dims, NULL,
                                       NULL, 0, NULL);
    PyObject *ours = PyDataMem_SetHandler(old);
    Py_DECREF(old);
    if (ours == NULL) {
        Py_XDECREF(o);
        return NULL;
    }
    Py_DECREF(ours);
    return o;
}

/* kernel q[1] through sg_run at q[0] filling `o`, without the GIL when `work` (elements,
 * multiply-adds) reaches `nogil`: o, or NULL with o released and the error set when the
 * kernel reports one */
static PyObject *run_kernel(const int64_t *q, int64_t n, void **ptrs, const int64_t *meta,
                            int64_t work, int64_t nogil, PyObject *o, int *rc)
{
    sg_kernel fn = (sg_kernel)(intptr_t)q[0];
    if (work >= nogil) {
        Py_BEGIN_ALLOW_THREADS
        *rc = fn((int)q[1], n, ptrs, meta);
        Py_END_ALLOW_THREADS
    } else {
        *rc = fn((int)q[1], n, ptrs, meta);
    }
    if (*rc != 0) {
        Py_DECREF(o);
        PyErr_Format(PyExc_RuntimeError, "symgraph: kernel %d returned %d", (int)q[1], *rc);
        return NULL;
    }
    return o;
}

#define EW_MAXDIM 32                 /* the strided call's stack arrays; above: `general` */

/* an Elemwise step whose operands broadcast, or are views, through its strided kernel
 * (meta: the output's shape, then each operand's byte strides, 0 along a broadcast dim;
 * cbackend.py's `general`): the operands are ndarrays of the step's ndim, a dim differs
 * from the output's only where it is 1 and the operand's type says so (flags bit 1 + d),
 * an in-place output has the output's shape; else NULL with no error set, and `general`
 * runs (and raises numpy's or the runtime-broadcast error) */
static PyObject *elemwise_strided(const int64_t *q, const int64_t *arg, int64_t n_args,
                                  PyObject **slots, PyObject *descr, int *rc)
{
    const int64_t inplace = q[2], nd = q[4], nogil = q[5];
    const int64_t *ins = q + 8;
    if (nd > EW_MAXDIM) return NULL;
    npy_intp shape[EW_MAXDIM];
    for (int64_t d = 0; d < nd; ++d) shape[d] = 1;
    for (int64_t j = 0; j < n_args; ++j) {
        const int64_t *a = arg + 3 * j;
        if (a[0]) continue;
        const npy_intp *dims = PyArray_DIMS((PyArrayObject *)slots[a[1]]);
        for (int64_t d = 0; d < nd; ++d) {
            if (dims[d] == shape[d] || dims[d] == 1) continue;
            if (shape[d] != 1) return NULL;                   /* shapes that do not match */
            shape[d] = dims[d];
        }
    }
    int64_t meta[EW_MAXDIM * (n_args + 2)];
    void *ptrs[n_args + 1];
    for (int64_t d = 0; d < nd; ++d) meta[d] = shape[d];
    for (int64_t j = 0; j < n_args; ++j) {
        const int64_t *a = arg + 3 * j;
        int64_t *st = meta + nd * (j + 1);
        if (a[0]) {                                       /* a constant of all-1 shape */
            ptrs[j] = (void *)(intptr_t)a[1];
            for (int64_t d = 0; d < nd; ++d) st[d] = 0;
            continue;
        }
        PyArrayObject *arr = (PyArrayObject *)slots[a[1]];
        const npy_intp *dims = PyArray_DIMS(arr), *strides = PyArray_STRIDES(arr);
        for (int64_t d = 0; d < nd; ++d) {
            if (dims[d] == shape[d]) {
                st[d] = shape[d] == 1 ? 0 : strides[d];
            } else {                                          /* dims[d] == 1 */
                if (!((a[2] >> (1 + d)) & 1)) return NULL;    /* runtime broadcasting */
                st[d] = 0;
            }
        }
        ptrs[j] = PyArray_DATA(arr);
    }
    PyObject *o;
    if (inplace >= 0) {
        o = slots[ins[inplace]];
        if (memcmp(PyArray_DIMS((PyArrayObject *)o), shape, sizeof(npy_intp) * (size_t)nd))
            return NULL;
        Py_INCREF(o);
    } else {
        o = new_array(descr, (int)nd, shape);
        if (o == NULL) { *rc = -1; return NULL; }
    }
    int64_t *so = meta + nd * (n_args + 1);
    const npy_intp *ostrides = PyArray_STRIDES((PyArrayObject *)o);
    for (int64_t d = 0; d < nd; ++d) so[d] = shape[d] == 1 ? 0 : ostrides[d];
    ptrs[n_args] = PyArray_DATA((PyArrayObject *)o);
    int64_t size = PyArray_SIZE((PyArrayObject *)o);
    if (size == 0) return o;
    return run_kernel(q, nd, ptrs, meta, size, nogil, o, rc);
}

/* an Elemwise step through its kernel when the arguments are ndarrays of its ndim: one
 * contiguous call when they are C-contiguous (or 0-d) and the full ones of one shape, as
 * the generated Python's inline call, else the strided call above; NULL with no error set
 * when neither takes them, and the step runs its `general` */
static PyObject *elemwise(const int64_t *q, const int64_t *arg, int64_t n_args,
                          PyObject **slots, PyObject *descr, int *rc)
{
    int64_t inplace = q[2], nd = q[4], nogil = q[5];
    const int64_t *ins = q + 8;
    const npy_intp *dims = NULL;
    int contig = 1;
    for (int64_t j = 0; j < n_args; ++j) {
        const int64_t *a = arg + 3 * j;
        if (a[0]) continue;
        PyObject *v = slots[a[1]];
        if (v == NULL || Py_TYPE(v) != &PyArray_Type) return NULL;
        PyArrayObject *arr = (PyArrayObject *)v;
        if (PyArray_NDIM(arr) != nd) return NULL;
        if (nd && !PyArray_IS_C_CONTIGUOUS(arr)) contig = 0;
        if (a[2] & 1) {
            if (dims == NULL) dims = PyArray_DIMS(arr);
            else if (memcmp(dims, PyArray_DIMS(arr), sizeof(npy_intp) * (size_t)nd))
                contig = 0;
        }
    }
    if (!contig) return elemwise_strided(q, arg, n_args, slots, descr, rc);
    PyObject *o;
    if (inplace >= 0) {
        o = slots[ins[inplace]];
        Py_INCREF(o);
    } else {
        static const npy_intp ones[NPY_MAXDIMS] = {
            1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
            1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
            1, 1, 1, 1, 1, 1, 1, 1};
        o = new_array(descr, (int)nd, (npy_intp *)(dims ? dims : ones));
        if (o == NULL) { *rc = -1; return NULL; }
    }
    void *ptrs[n_args + 1];
    for (int64_t j = 0; j < n_args; ++j) {
        const int64_t *a = arg + 3 * j;
        ptrs[j] = a[0] ? (void *)(intptr_t)a[1] : PyArray_DATA((PyArrayObject *)slots[a[1]]);
    }
    ptrs[n_args] = PyArray_DATA((PyArrayObject *)o);
    int64_t size = PyArray_SIZE((PyArrayObject *)o);
    return run_kernel(q, size, ptrs, NULL, size, nogil, o, rc);
}

/* (row, column) strides in elements of a matrix BLAS takes as it is: one unit stride and
 * a leading dimension covering the other (blas.py's _blas_matrix, which copies otherwise) */
static int blas_matrix(PyArrayObject *a, int64_t *rs, int64_t *cs)
{
    npy_intp item = PyArray_ITEMSIZE(a), rows = PyArray_DIMS(a)[0], cols = PyArray_DIMS(a)[1];
    npy_intp s0 = PyArray_STRIDES(a)[0], s1 = PyArray_STRIDES(a)[1];
    if (s0 % item || s1 % item) return 0;
    int64_t r = s0 / item, c = s1 / item;
    int64_t mr = rows > 1 ? rows : 1, mc = cols > 1 ? cols : 1;
    if (rows == 1) r = c == 1 ? mc : 1;
    if (cols == 1) c = r == 1 ? mr : 1;
    if ((c == 1 && r >= mc) || (r == 1 && c >= mr)) {
        *rs = r;
        *cs = c;
        return 1;
    }
    return 0;
}

static int blas_vector(PyArrayObject *v, int64_t *inc)
{
    npy_intp s = PyArray_STRIDES(v)[0], item = PyArray_ITEMSIZE(v);
    if (PyArray_DIMS(v)[0] <= 1) { *inc = 1; return 1; }
    if (s > 0 && s % item == 0) { *inc = s / item; return 1; }
    return 0;
}

/* BLAS's M N K and strides (meta) and the product's dims for operands x (nda dims) and y
 * (ndb dims) of the dtype `descr` that BLAS takes as they are; the product's ndim, or -1
 * when they need what blas.py's compute does (casts, copies, numpy's shape error) */
static int blas_layout(const int64_t *q, PyObject *va, PyObject *vb, PyObject *descr,
                       int64_t *meta, npy_intp *dims)
{
    int64_t nda = q[3], ndb = q[4];
    if (Py_TYPE(va) != &PyArray_Type || Py_TYPE(vb) != &PyArray_Type) return -1;
    PyArrayObject *a = (PyArrayObject *)va, *b = (PyArrayObject *)vb;
    if ((PyObject *)PyArray_DESCR(a) != descr || (PyObject *)PyArray_DESCR(b) != descr ||
            PyArray_NDIM(a) != nda || PyArray_NDIM(b) != ndb)
        return -1;
    int64_t K = PyArray_DIMS(a)[nda - 1], M = 1, N = 1, ars, acs, brs, bcs = 1;
    if (PyArray_DIMS(b)[0] != K) return -1;
    if (nda == 2) {
        if (!blas_matrix(a, &ars, &acs)) return -1;
        M = PyArray_DIMS(a)[0];
    } else {
        if (!blas_vector(a, &acs)) return -1;
        ars = K;
    }
    if (ndb == 2) {
        if (!blas_matrix(b, &brs, &bcs)) return -1;
        N = PyArray_DIMS(b)[1];
    } else if (!blas_vector(b, &brs)) {
        return -1;
    }
    int nd = 0;
    if (nda == 2) dims[nd++] = M;
    if (ndb == 2) dims[nd++] = N;
    const int64_t m[7] = {M, N, K, ars, acs, brs, bcs};
    memcpy(meta, m, sizeof(m));
    return nd;
}

/* a Dot step through its kernel (the thunk's `compute` in blas.py, without copies); NULL
 * with no error set when the operands need what compute does */
static PyObject *dot(const int64_t *q, PyObject *va, PyObject *vb, PyObject *descr, int *rc)
{
    int64_t meta[7];
    npy_intp dims[2];
    int nd = blas_layout(q, va, vb, descr, meta, dims);
    if (nd < 0) return NULL;
    PyObject *o = new_array(descr, nd, dims);
    if (o == NULL) { *rc = -1; return NULL; }
    void *ptrs[3] = {PyArray_DATA((PyArrayObject *)va), PyArray_DATA((PyArrayObject *)vb),
                     PyArray_DATA((PyArrayObject *)o)};
    return run_kernel(q, 0, ptrs, meta, meta[0] * meta[1] * meta[2], q[5], o, rc);
}

/* a Gemm step (beta z + alpha dot(x, y)) through its kernel: z's copy, or z itself when the
 * op is in place and z is C-contiguous and writeable (blas.py's compute); NULL with no
 * error set for what compute does itself (casts, copies, alpha == 0, numpy's errors) */
static PyObject *gemm(const int64_t *q, PyObject *const *args, PyObject *descr, int *rc)
{
    PyObject *vz = args[0], *valpha = args[1], *vbeta = args[4];
    if (Py_TYPE(vz) != &PyArray_Type ||
            (PyObject *)PyArray_DESCR((PyArrayObject *)vz) != descr)
        return NULL;
    int64_t meta[7];
    npy_intp dims[2];
    int nd = blas_layout(q, args[2], args[3], descr, meta, dims);
    PyArrayObject *z = (PyArrayObject *)vz;
    if (nd < 0 || PyArray_NDIM(z) != nd || memcmp(PyArray_DIMS(z), dims, sizeof(npy_intp) * nd))
        return NULL;
    double alpha = PyFloat_AsDouble(valpha), beta = PyFloat_AsDouble(vbeta);
    if (PyErr_Occurred()) {              /* not numbers: compute says what they are */
        PyErr_Clear();
        return NULL;
    }
    if (alpha == 0) return NULL;
    PyObject *o;
    if (q[7] && PyArray_IS_C_CONTIGUOUS(z) && PyArray_ISWRITEABLE(z)) {
        o = vz;
        Py_INCREF(o);
    } else if ((o = PyArray_NewCopy(z, NPY_CORDER)) == NULL) {
        *rc = -1;
        return NULL;
    }
    double d[2] = {alpha, beta};
    float f[2] = {(float)alpha, (float)beta};
    int is_double = PyArray_DESCR(z)->type_num == NPY_DOUBLE;
    void *ptrs[5] = {PyArray_DATA((PyArrayObject *)args[2]),
                     PyArray_DATA((PyArrayObject *)args[3]), PyArray_DATA((PyArrayObject *)o),
                     is_double ? (void *)&d[0] : (void *)&f[0],
                     is_double ? (void *)&d[1] : (void *)&f[1]};
    return run_kernel(q, 0, ptrs, meta, meta[0] * meta[1] * meta[2], q[5], o, rc);
}

/* adjacent dims that are one run in memory for every stride list merged into one
 * (reduce_c.py's _merge); returns the new number of dims */
static int merge(int64_t n, int64_t *shape, int64_t **strides, int n_lists)
{
    for (int64_t d = n - 2; d >= 0; --d) {
        int one_run = 1;
        for (int l = 0; l < n_lists; ++l)
            if (strides[l][d] != strides[l][d + 1] * shape[d + 1]) one_run = 0;
        if (!one_run) continue;
        shape[d] *= shape[d + 1];
        for (int l = 0; l < n_lists; ++l) {
            strides[l][d] = strides[l][d + 1];
            memmove(strides[l] + d + 1, strides[l] + d + 2, sizeof(int64_t) * (size_t)(n - d - 2));
        }
        memmove(shape + d + 1, shape + d + 2, sizeof(int64_t) * (size_t)(n - d - 2));
        --n;
    }
    return (int)n;
}

static int64_t inner_stride(const int64_t *shape, const int64_t *strides, int64_t n)
{
    int64_t best = (int64_t)1 << 62;
    for (int64_t d = 0; d < n; ++d) {
        int64_t s = strides[d] < 0 ? -strides[d] : strides[d];
        if (shape[d] > 1 && s < best) best = s;
    }
    return best;
}

/* a reduction step through its kernel, with the layout reduce_c.py's compute makes; NULL
 * with no error set for what compute does itself (other types, empty arrays) */
static PyObject *reduce(const int64_t *q, PyObject *vx, PyObject *in_descr,
                        PyObject *out_descr, int *rc)
{
    int64_t fold = q[4], keepdims = q[6], nogil = q[7], n_axes = q[9];
    const int64_t *axes = q + 10;
    int64_t ndim = q[10 + n_axes];
    if (Py_TYPE(vx) != &PyArray_Type) return NULL;
    PyArrayObject *x = (PyArrayObject *)vx;
    if ((PyObject *)PyArray_DESCR(x) != in_descr || PyArray_NDIM(x) != ndim ||
            ndim > NPY_MAXDIMS || PyArray_SIZE(x) == 0)
        return NULL;
    const npy_intp *dims = PyArray_DIMS(x), *st = PyArray_STRIDES(x);
    char reduced[NPY_MAXDIMS] = {0};
    int64_t rshape[NPY_MAXDIMS], rst[NPY_MAXDIMS], kshape[NPY_MAXDIMS], kst[NPY_MAXDIMS];
    int64_t kso[NPY_MAXDIMS];
    npy_intp out_dims[NPY_MAXDIMS];
    int64_t nr = 0, nk = 0;
    for (int64_t j = 0; j < n_axes; ++j) {
        reduced[axes[j]] = 1;
        rshape[nr] = dims[axes[j]];
        rst[nr++] = st[axes[j]];
    }
    int out_nd = 0;
    for (int64_t d = 0; d < ndim; ++d) {
        if (reduced[d]) {
            if (keepdims) out_dims[out_nd++] = 1;
            continue;
        }
        kshape[nk] = dims[d];
        kst[nk++] = st[d];
        out_dims[out_nd++] = dims[d];
    }
    PyObject *o = new_array(out_descr, (int)out_nd, out_dims);
    if (o == NULL) { *rc = -1; return NULL; }
    int64_t item = PyArray_ITEMSIZE((PyArrayObject *)o);
    for (int64_t d = nk - 1; d >= 0; --d) {        /* the output's C strides, kept dims */
        kso[d] = item;
        item *= kshape[d];
    }
    int64_t *rl[1] = {rst}, *kl[2] = {kst, kso};
    nr = merge(nr, rshape, rl, 1);
    nk = merge(nk, kshape, kl, 2);
    int64_t meta[3 + 3 * NPY_MAXDIMS + 2 * NPY_MAXDIMS];
    meta[0] = fold && nk && inner_stride(kshape, kst, nk) < inner_stride(rshape, rst, nr);
    meta[1] = nk;
    meta[2] = nr;
    int64_t *m = meta + 3;
    memcpy(m, kshape, sizeof(int64_t) * (size_t)nk); m += nk;
    memcpy(m, kst, sizeof(int64_t) * (size_t)nk); m += nk;
    memcpy(m, kso, sizeof(int64_t) * (size_t)nk); m += nk;
    memcpy(m, rshape, sizeof(int64_t) * (size_t)nr); m += nr;
    memcpy(m, rst, sizeof(int64_t) * (size_t)nr);
    void *ptrs[2] = {PyArray_DATA(x), PyArray_DATA((PyArrayObject *)o)};
    return run_kernel(q, 0, ptrs, meta, PyArray_SIZE(x), nogil, o, rc);
}

/* a view of x's memory at `data` with the given dims and byte strides (writeable when x
 * is), x its base; NULL with an error set when numpy cannot make it */
static PyObject *view_of(PyArrayObject *x, int nd, npy_intp *shape, npy_intp *strides,
                         char *data)
{
    PyArray_Descr *descr = PyArray_DESCR(x);
    Py_INCREF(descr);                                                 /* stolen */
    PyObject *y = PyArray_NewFromDescr(&PyArray_Type, descr, nd, shape, strides, data,
                                       PyArray_FLAGS(x) & NPY_ARRAY_WRITEABLE, NULL);
    if (y == NULL) return NULL;
    Py_INCREF(x);                                                     /* stolen too */
    if (PyArray_SetBaseObject((PyArrayObject *)y, (PyObject *)x) < 0) {
        Py_DECREF(y);
        return NULL;
    }
    return y;
}

/* a DimShuffle's view of ndarray x (d: in_ndim out_ndim order... n_drop drop...), as
 * its perform's transpose and reshape give it: new dims of 1 have stride 0; NULL with no
 * error set when x is not what d describes, and the perform runs */
static PyObject *dimshuffle(const int64_t *d, PyObject *v)
{
    const int64_t in_nd = d[0], out_nd = d[1], *order = d + 2;
    const int64_t n_drop = order[out_nd], *drop = order + out_nd + 1;
    if (v == NULL || Py_TYPE(v) != &PyArray_Type || out_nd > NPY_MAXDIMS) return NULL;
    PyArrayObject *x = (PyArrayObject *)v;
    if (PyArray_NDIM(x) != in_nd) return NULL;
    const npy_intp *dims = PyArray_DIMS(x), *st = PyArray_STRIDES(x);
    for (int64_t j = 0; j < n_drop; ++j)
        if (dims[drop[j]] != 1) return NULL;
    npy_intp od[NPY_MAXDIMS], os[NPY_MAXDIMS];
    for (int64_t k = 0; k < out_nd; ++k) {
        od[k] = order[k] < 0 ? 1 : dims[order[k]];
        os[k] = order[k] < 0 ? 0 : st[order[k]];
    }
    return view_of(x, (int)out_nd, od, os, PyArray_BYTES(x));
}

/* an int64 of a 0-d int64 ndarray or numpy int64 scalar; 0 when `v` is neither */
static int int64_of(PyObject *v, int64_t *out)
{
    if (v == NULL) return 0;
    if (Py_TYPE(v) == &PyArray_Type) {
        PyArrayObject *a = (PyArrayObject *)v;
        if (PyArray_NDIM(a) != 0 || PyArray_TYPE(a) != NPY_INT64) return 0;
        *out = *(const int64_t *)PyArray_DATA(a);
        return 1;
    }
    if (PyArray_IsScalar(v, Int64)) {
        *out = PyArrayScalar_VAL(v, Int64);
        return 1;
    }
    return 0;
}

/* a part of a Subtensor's index (tag value: 0 absent, 1 the constant value, 2 the value of
 * index argument `value`); 0 when an argument is not an int64 scalar */
static int index_part(const int64_t *part, PyObject **slots, const int64_t *arg,
                      int64_t absent, int64_t *out)
{
    if (part[0] == 0) { *out = absent; return 1; }
    if (part[0] == 1) { *out = part[1]; return 1; }
    return int64_of(slots[arg[1 + part[1]]], out);
}

/* x[index] as numpy's basic indexing makes the view (mapping.c's get_view_from_index):
 * d is the index, one entry per position: 0 a new axis; 1 tag value, an integer index;
 * 2 then three parts (start, stop, step), each tag value (index_part). NULL with no error
 * set when an index is out of range or not an int64 scalar, a step is 0 or x is not an
 * ndarray with the dims indexed: the perform runs and raises numpy's error */
static PyObject *subtensor(const int64_t *d, int64_t n_data, PyObject **slots,
                           const int64_t *arg)
{
    PyObject *v = slots[arg[0]];
    if (v == NULL || Py_TYPE(v) != &PyArray_Type) return NULL;
    PyArrayObject *x = (PyArrayObject *)v;
    const int nd = PyArray_NDIM(x);
    const npy_intp *dims = PyArray_DIMS(x), *st = PyArray_STRIDES(x);
    npy_intp shape[NPY_MAXDIMS], strides[NPY_MAXDIMS];
    char *data = PyArray_BYTES(x);
    int in = 0, out = 0;
    for (const int64_t *e = d, *end = d + n_data; e < end;) {
        if (out >= NPY_MAXDIMS) return NULL;
        if (e[0] == 0) {                                              /* new axis */
            shape[out] = 1;
            strides[out++] = 0;
            e += 1;
            continue;
        }
        if (in >= nd) return NULL;
        if (e[0] == 1) {                                              /* integer */
            int64_t i;
            if (!index_part(e + 1, slots, arg, 0, &i)) return NULL;
            if (i < 0) i += dims[in];
            if (i < 0 || i >= dims[in]) return NULL;
            data += i * st[in++];
            e += 3;
            continue;
        }
        int64_t step, start, stop;                                    /* slice */
        if (!index_part(e + 5, slots, arg, 1, &step) || step == 0) return NULL;
        if (step < -PY_SSIZE_T_MAX) step = -PY_SSIZE_T_MAX;    /* as PySlice_Unpack: -step fits */
        if (!index_part(e + 1, slots, arg, step < 0 ? PY_SSIZE_T_MAX : 0, &start) ||
                !index_part(e + 3, slots, arg, step < 0 ? PY_SSIZE_T_MIN : PY_SSIZE_T_MAX,
                            &stop))
            return NULL;
        Py_ssize_t a = (Py_ssize_t)start, b = (Py_ssize_t)stop;
        Py_ssize_t n = PySlice_AdjustIndices(dims[in], &a, &b, (Py_ssize_t)step);
        if (n <= 0) { n = 0; step = 1; a = 0; }
        data += a * st[in];
        shape[out] = n;
        strides[out++] = st[in++] * step;
        e += 7;
    }
    for (; in < nd; ++in, ++out) {
        if (out >= NPY_MAXDIMS) return NULL;
        shape[out] = dims[in];
        strides[out] = st[in];
    }
    return view_of(x, out, shape, strides, data);
}

/* the value of a SHAPE step (Shape_i, MakeVector of int64, Reshape, Shape, Subtensor) as
 * the op's perform gives it: a 0-d int64 array, an int64 vector, numpy.reshape's view or
 * copy, numpy's basic-indexing view; NULL with no error set for anything else, and the
 * perform runs (it also raises the op's errors: a reshape numpy refuses, an index out of
 * range) */
static PyObject *shape_step(int64_t which, const int64_t *data, int64_t n_data,
                            PyObject **slots, const int64_t *arg, int64_t n_args)
{
    PyObject *o = NULL;
    const int64_t extra = n_data ? data[0] : 0;
    if (which == SHAPE_I) {
        PyObject *v = slots[arg[0]];
        if (v == NULL || Py_TYPE(v) != &PyArray_Type || extra < 0 ||
                extra >= PyArray_NDIM((PyArrayObject *)v))
            return NULL;
        if ((o = PyArray_SimpleNew(0, NULL, NPY_INT64)) != NULL)
            *(int64_t *)PyArray_DATA((PyArrayObject *)o) = PyArray_DIM((PyArrayObject *)v, extra);
    } else if (which == MAKEVECTOR) {
        npy_intp n = n_args;
        if ((o = PyArray_SimpleNew(1, &n, NPY_INT64)) == NULL) { PyErr_Clear(); return NULL; }
        int64_t *d = (int64_t *)PyArray_DATA((PyArrayObject *)o);
        for (int64_t j = 0; j < n_args; ++j)
            if (!int64_of(slots[arg[j]], d + j)) { Py_DECREF(o); return NULL; }
    } else if (which == SHAPE_OF) {
        PyObject *v = slots[arg[0]];
        if (v == NULL || Py_TYPE(v) != &PyArray_Type) return NULL;
        PyArrayObject *x = (PyArrayObject *)v;
        npy_intp n = PyArray_NDIM(x);
        if ((o = PyArray_SimpleNew(1, &n, NPY_INT64)) != NULL)
            for (npy_intp d = 0; d < n; ++d)
                ((int64_t *)PyArray_DATA((PyArrayObject *)o))[d] = PyArray_DIM(x, d);
    } else if (which == SUBTENSOR) {
        o = subtensor(data, n_data, slots, arg);
    } else if (which == RESHAPE) {
        PyObject *vx = slots[arg[0]], *vs = slots[arg[1]];
        if (vx == NULL || vs == NULL || Py_TYPE(vx) != &PyArray_Type ||
                Py_TYPE(vs) != &PyArray_Type || extra > NPY_MAXDIMS)
            return NULL;
        PyArrayObject *shp = (PyArrayObject *)vs;
        if (PyArray_NDIM(shp) != 1 || PyArray_TYPE(shp) != NPY_INT64 ||
                PyArray_DIM(shp, 0) != extra)
            return NULL;
        npy_intp dims[NPY_MAXDIMS];
        for (int64_t k = 0; k < extra; ++k)
            dims[k] = (npy_intp)*(const int64_t *)PyArray_GETPTR1(shp, k);
        PyArray_Dims target = {dims, (int)extra};
        o = PyArray_Newshape((PyArrayObject *)vx, &target, NPY_CORDER);
    }
    if (o == NULL) PyErr_Clear();
    return o;
}

static PyObject *str_value, *str_acquire, *str_release;

/* container.value = v for each update, all under the function's lock (as Function's Python
 * path: every update computed from the old values, written together); 1 on success */
static int write_updates(const Entry *e, const int64_t *updates, PyObject **values)
{
    int64_t n = e->code[H_UPDATES];
    PyObject *lock = KEEP(e, updates[n]);
    PyObject *r = PyObject_CallMethodNoArgs(lock, str_acquire);
    if (r == NULL) return 0;
    Py_DECREF(r);
    int ok = 1;
    for (int64_t u = 0; u < n && ok; ++u)
        ok = PyObject_SetAttr(KEEP(e, updates[u]), str_value, values[u]) == 0;
    PyObject *exc_type, *exc, *tb;
    PyErr_Fetch(&exc_type, &exc, &tb);           /* release() must not see a pending error */
    r = PyObject_CallMethodNoArgs(lock, str_release);
    Py_XDECREF(r);
    if (r == NULL) ok = 0;
    if (exc_type != NULL) PyErr_Restore(exc_type, exc, tb);
    return ok;
}

/* NotImplemented (not a new reference) when an input is not what the plan was made for */
static PyObject *run(Entry *e, PyObject *const *args)
{
    const int64_t *c = e->code;
    int64_t n_slots = c[H_SLOTS] > 0 ? c[H_SLOTS] : 1;
    PyObject *slots[n_slots];
    char owned[n_slots];
    memset(slots, 0, sizeof(PyObject *) * (size_t)n_slots);
    memset(owned, 0, (size_t)n_slots);
    const int64_t *p = c + H_LEN;
    for (int64_t i = 0; i < c[H_IN]; ++i) {
        PyObject *a = args[i];
        int64_t nd = p[1];
        if (Py_TYPE(a) != &PyArray_Type) return Py_NotImplemented;
        PyArrayObject *arr = (PyArrayObject *)a;
        if ((PyObject *)PyArray_DESCR(arr) != KEEP(e, p[0]) || PyArray_NDIM(arr) != nd)
            return Py_NotImplemented;
        const npy_intp *dims = PyArray_DIMS(arr);
        for (int64_t d = 0; d < nd; ++d)
            if (p[2 + d] >= 0 && dims[d] != p[2 + d]) return Py_NotImplemented;
        slots[i] = a;
        p += 2 + nd;
    }
    for (int64_t i = 0; i < c[H_SHARED]; ++i, ++p) {
        PyObject *v = PyObject_GetAttr(KEEP(e, *p), str_value);
        if (v == NULL) { release(slots, owned, n_slots); return NULL; }
        slots[c[H_IN] + i] = v;
        owned[c[H_IN] + i] = 1;
    }
    for (int64_t n_consts = *p++; n_consts > 0; --n_consts, p += 2)
        slots[p[0]] = KEEP(e, p[1]);

    for (int64_t s = 0; s < c[H_STEPS]; ++s) {
        int64_t kind = p[S_KIND], n_args = p[S_NARGS], n_outs = p[S_NOUTS];
        int64_t n_frees = p[S_NFREES];
        const int64_t *frees = p + S_LEN, *outs = frees + n_frees, *q = outs + n_outs;
        PyObject *o = NULL;
        if (kind == ELEMWISE) {
            const int64_t *arg = q + 8 + q[7];
            int rc = 0;
            o = elemwise(q, arg, n_args, slots, KEEP(e, q[3]), &rc);
            if (o == NULL && rc == 0) {
                PyObject *list = arg_list(slots, q + 8, q[7]);
                if (list != NULL) {
                    o = PyObject_CallOneArg(KEEP(e, q[6]), list);
                    if (o == NULL) step_error(e, s, list);
                    Py_DECREF(list);
                }
            }
            if (o == NULL) { release(slots, owned, n_slots); return NULL; }
            slots[outs[0]] = o;
            owned[outs[0]] = 1;
            p = arg + 3 * n_args;
        } else if (kind == DOT || kind == REDUCE || kind == GEMM) {
            const int64_t *arg = kind == REDUCE ? q + 11 + q[9] : q + 7 + (kind == GEMM);
            int rc = 0;
            if (kind == GEMM) {
                PyObject *gargs[5];
                for (int j = 0; j < 5; ++j) gargs[j] = slots[arg[j]];
                o = gemm(q, gargs, KEEP(e, q[2]), &rc);
            } else {
                o = kind == DOT ? dot(q, slots[arg[0]], slots[arg[1]], KEEP(e, q[2]), &rc)
                                : reduce(q, slots[arg[0]], KEEP(e, q[2]), KEEP(e, q[3]), &rc);
            }
            if (o == NULL && rc == 0) {
                PyObject *list = arg_list(slots, arg, n_args);
                if (list != NULL) {
                    o = PyObject_CallOneArg(KEEP(e, q[kind == REDUCE ? 8 : 6]), list);
                    if (o == NULL) step_error(e, s, list);
                    Py_DECREF(list);
                }
            }
            if (o == NULL) { release(slots, owned, n_slots); return NULL; }
            slots[outs[0]] = o;
            owned[outs[0]] = 1;
            p = arg + n_args;
        } else if (kind == DIMSHUFFLE &&
                   (o = dimshuffle(q + 2, slots[q[5 + q[3] + q[4 + q[3]]]])) != NULL) {
            slots[outs[0]] = o;
            owned[outs[0]] = 1;
            p = q + 5 + q[3] + q[4 + q[3]] + n_args;
        } else if (kind == SHAPE &&
                   (o = shape_step(q[2], q + 4, q[3], slots, q + 4 + q[3], n_args)) != NULL) {
            slots[outs[0]] = o;
            owned[outs[0]] = 1;
            p = q + 4 + q[3] + n_args;
        } else {
            const int64_t *arg = kind == COMPUTE ? q + 1 : kind == PERFORM ? q + 2 :
                                 kind == SHAPE ? q + 4 + q[3] : q + 5 + q[3] + q[4 + q[3]];
            if (PyErr_Occurred()) { release(slots, owned, n_slots); return NULL; }
            PyObject *list = arg_list(slots, arg, n_args);
            if (list == NULL) { release(slots, owned, n_slots); return NULL; }
            if (kind == COMPUTE) {
                o = PyObject_CallOneArg(KEEP(e, q[0]), list);
                if (o != NULL) { slots[outs[0]] = o; owned[outs[0]] = 1; }
            } else {
                PyObject *cells = PyList_New(n_outs);
                for (int64_t j = 0; cells != NULL && j < n_outs; ++j) {
                    PyObject *cell = Py_BuildValue("[O]", Py_None);
                    if (cell == NULL) { Py_CLEAR(cells); break; }
                    PyList_SET_ITEM(cells, j, cell);
                }
                if (cells != NULL)
                    o = PyObject_CallFunctionObjArgs(KEEP(e, q[0]), KEEP(e, q[1]), list,
                                                     cells, NULL);
                if (o != NULL) {
                    Py_DECREF(o);
                    for (int64_t j = 0; j < n_outs; ++j) {
                        PyObject *v = PyList_GET_ITEM(PyList_GET_ITEM(cells, j), 0);
                        Py_INCREF(v);
                        slots[outs[j]] = v;
                        owned[outs[j]] = 1;
                    }
                }
                Py_XDECREF(cells);
            }
            if (o == NULL) {
                step_error(e, s, list);
                Py_DECREF(list);
                release(slots, owned, n_slots);
                return NULL;
            }
            Py_DECREF(list);
            p = arg + n_args;
        }
        for (int64_t f = 0; f < n_frees; ++f)
            if (owned[frees[f]]) {
                Py_CLEAR(slots[frees[f]]);
                owned[frees[f]] = 0;
            }
    }

    int64_t n_res = c[H_OUT] + c[H_UPDATES];
    const int64_t *outs = e->outputs, *copy = outs + n_res, *updates = copy + n_res;
    PyObject *res[n_res > 0 ? n_res : 1];
    int64_t made = 0;
    for (; made < n_res; ++made) {
        PyObject *v = slots[outs[made]];
        if (!copy[made]) {
            Py_INCREF(v);
        } else if (Py_TYPE(v) == &PyArray_Type) {
            v = PyArray_NewCopy((PyArrayObject *)v, NPY_KEEPORDER);
        } else {
            v = PyObject_CallOneArg(KEEP(e, 1), v);
        }
        if (v == NULL) break;
        res[made] = v;
    }
    release(slots, owned, n_slots);
    int ok = made == n_res;
    if (ok && c[H_UPDATES]) ok = write_updates(e, updates, res + c[H_OUT]);
    PyObject *result = NULL;
    if (ok && c[H_SINGLE]) {
        result = res[0];
        Py_INCREF(result);
    } else if (ok && (result = PyList_New(c[H_OUT])) != NULL) {
        for (int64_t i = 0; i < c[H_OUT]; ++i) {
            Py_INCREF(res[i]);
            PyList_SET_ITEM(result, i, res[i]);
        }
    }
    for (int64_t i = 0; i < made; ++i) Py_DECREF(res[i]);
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

/* (fallback, keep, code bytes, reuse cap in bytes) -> a new entry, with the GIL held
 * (symgraph._entry.new, or ctypes for the runner built into the compile cache) */
void *sg_entry_new(void *spec_)
{
    static int ready = 0;
    PyObject *spec = (PyObject *)spec_;
    if (!ready) {
        if (_import_array() < 0 || PyType_Ready(&EntryType) < 0) return NULL;
        str_value = PyUnicode_InternFromString("value");
        str_acquire = PyUnicode_InternFromString("acquire");
        str_release = PyUnicode_InternFromString("release");
        if (!str_value || !str_acquire || !str_release) return NULL;
        pool_lock = PyThread_allocate_lock();
        pool_handler = PyCapsule_New(&pool_mem, "mem_handler", NULL);
        if (pool_lock == NULL || pool_handler == NULL) return NULL;
        ready = 1;
    }
    PyObject *fallback, *keep, *code;
    Py_ssize_t cap;
    if (!PyArg_ParseTuple(spec, "OO!Sn", &fallback, &PyTuple_Type, &keep, &code, &cap))
        return NULL;
    /* the reuse cap of the latest compile holds for every function */
    PyThread_acquire_lock(pool_lock, WAIT_LOCK);
    pool_cap = cap > 0 ? (size_t)cap : 0;
    pool_trim(pool_cap);
    PyThread_release_lock(pool_lock);
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
    /* where the outputs start: walk the inputs, constants and steps once */
    const int64_t *p = e->code + H_LEN;
    for (int64_t i = 0; i < e->code[H_IN]; ++i) p += 2 + p[1];
    p += e->code[H_SHARED];
    p += 1 + 2 * p[0];
    for (int64_t s = 0; s < e->code[H_STEPS]; ++s) {
        int64_t kind = p[S_KIND], n_args = p[S_NARGS];
        p += S_LEN + p[S_NFREES] + p[S_NOUTS];
        p += kind == ELEMWISE ? 8 + p[7] + 3 * n_args : kind == DOT ? 7 + n_args :
             kind == GEMM ? 8 + n_args :
             kind == REDUCE ? 11 + p[9] + n_args :
             kind == DIMSHUFFLE ? 5 + p[3] + p[4 + p[3]] + n_args :
             kind == SHAPE ? 4 + p[3] + n_args : (kind == COMPUTE ? 1 : 2) + n_args;
    }
    e->outputs = p;
    PyObject_GC_Track((PyObject *)e);
    return e;
}

#ifdef SG_ENTRY_EXTENSION
/* built by setup.py as the extension module symgraph._entry: new(spec) */
static PyObject *entry_new(PyObject *self, PyObject *spec)
{
    return (PyObject *)sg_entry_new(spec);
}

static PyMethodDef entry_methods[] = {
    {"new", entry_new, METH_O,
     "new((fallback, keep, plan bytes, reuse cap)) -> a native entry"},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef entry_module = {
    PyModuleDef_HEAD_INIT, "symgraph._entry",
    "symgraph's native entry runner (symgraph/codegen/native_entry.py)", -1, entry_methods};

PyMODINIT_FUNC PyInit__entry(void)
{
    PyObject *m = PyModule_Create(&entry_module);
    if (m != NULL && PyModule_AddStringConstant(m, "source_sha256", SG_ENTRY_SHA256) < 0)
        Py_CLEAR(m);
    return m;
}
#endif
