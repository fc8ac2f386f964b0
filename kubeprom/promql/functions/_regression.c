/* Prometheus' linearRegression (promql/functions.go) over many windows, one sample at a time.
 *
 * deriv and predict_linear must match upstream bit for bit, and upstream's four
 * Kahan-Neumaier sums are sequential: numpy can only replay them as a dozen passes over a
 * window matrix, several times the work of this loop. The loop below is the Go source
 * operation for operation; it is built with -ffp-contract=off (see pyproject.toml), since a
 * fused multiply-add would round differently from Go on amd64.
 *
 * regress(t, v, lo, n, origin, slope, intercept): window w is v[lo[w]:lo[w] + n[w]] (n >= 1)
 * with times t[...], regressed relative to origin[w] ms; results go to slope[w] and
 * intercept[w]. t, lo, n, origin are int64 buffers, v, slope, intercept float64 buffers.
 * The GIL is released during the loop.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

typedef struct {
    double sum;
    double c;
} kahan;

/* kahansum.Inc: Neumaier's variant; the compensation is reset once the sum overflows. */
static inline void kahan_inc(kahan *k, double inc) {
    double t = k->sum + inc;
    if (isinf(t)) {
        k->c = 0;
    } else if (fabs(k->sum) >= fabs(inc)) {
        k->c += (k->sum - t) + inc;
    } else {
        k->c += (inc - t) + k->sum;
    }
    k->sum = t;
}

static void regress_one(const int64_t *t, const double *v, int64_t n, int64_t origin,
                        double *slope, double *intercept) {
    kahan sx = {0, 0}, sy = {0, 0}, sxy = {0, 0}, sx2 = {0, 0};
    double count = 0;
    double init_y = v[0];
    int const_y = 1;
    for (int64_t i = 0; i < n; i++) {
        double y = v[i];
        if (const_y && i > 0 && y != init_y) {
            const_y = 0;
        }
        count += 1.0;
        /* Go's int64 subtraction wraps; unsigned arithmetic does the same without UB. */
        double x = (double)(int64_t)((uint64_t)t[i] - (uint64_t)origin) / 1e3;
        kahan_inc(&sx, x);
        kahan_inc(&sy, y);
        kahan_inc(&sxy, x * y);
        kahan_inc(&sx2, x * x);
    }
    if (const_y) {
        if (isinf(init_y)) {
            *slope = NAN;
            *intercept = NAN;
        } else {
            *slope = 0;
            *intercept = init_y;
        }
        return;
    }
    double sum_x = sx.sum + sx.c;
    double sum_y = sy.sum + sy.c;
    double sum_xy = sxy.sum + sxy.c;
    double sum_x2 = sx2.sum + sx2.c;
    double cov_xy = sum_xy - sum_x * sum_y / count;
    double var_x = sum_x2 - sum_x * sum_x / count;
    double s = cov_xy / var_x;
    *slope = s;
    *intercept = sum_y / count - s * sum_x / count;
}

/* A 1-d contiguous buffer of int64 (kinds "lq") or float64 (kind "d"), native order. */
static int get(PyObject *obj, Py_buffer *view, const char *kinds, int writable,
               const char *what) {
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, view, flags) < 0) {
        return -1;
    }
    const char *f = view->format ? view->format : "B";
    if (*f == '@' || *f == '=' || *f == '<') {
        f++;
    }
    if (view->itemsize != 8 || view->ndim != 1 || f[0] == 0 || f[1] != 0 ||
        strchr(kinds, f[0]) == NULL) {
        PyErr_Format(PyExc_TypeError, "%s: expected a 1-d buffer of %s", what,
                     kinds[0] == 'd' ? "float64" : "int64");
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

static PyObject *regress(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *objs[7];
    static const char *names[7] = {"t", "v", "lo", "n", "origin", "slope", "intercept"};
    static const char *kinds[7] = {"lq", "d", "lq", "lq", "lq", "d", "d"};
    static const int writable[7] = {0, 0, 0, 0, 0, 1, 1};
    Py_buffer views[7];
    int got = 0;
    PyObject *result = NULL;
    if (!PyArg_ParseTuple(args, "OOOOOOO:regress", &objs[0], &objs[1], &objs[2], &objs[3],
                          &objs[4], &objs[5], &objs[6])) {
        return NULL;
    }
    for (; got < 7; got++) {
        if (get(objs[got], &views[got], kinds[got], writable[got], names[got]) < 0) {
            goto done;
        }
    }
    const int64_t *t = views[0].buf, *lo = views[2].buf, *n = views[3].buf;
    const int64_t *origin = views[4].buf;
    const double *v = views[1].buf;
    double *slope = views[5].buf, *intercept = views[6].buf;
    Py_ssize_t samples = views[0].shape[0], windows = views[2].shape[0];
    if (views[1].shape[0] != samples) {
        PyErr_SetString(PyExc_ValueError, "t and v differ in length");
        goto done;
    }
    for (int k = 3; k < 7; k++) {
        if (views[k].shape[0] != windows) {
            PyErr_Format(PyExc_ValueError, "%s: expected %zd windows", names[k], windows);
            goto done;
        }
    }
    for (Py_ssize_t w = 0; w < windows; w++) {
        if (n[w] < 1 || lo[w] < 0 || lo[w] > samples - n[w]) {
            PyErr_Format(PyExc_ValueError, "window %zd out of bounds", w);
            goto done;
        }
    }
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t w = 0; w < windows; w++) {
        regress_one(t + lo[w], v + lo[w], n[w], origin[w], &slope[w], &intercept[w]);
    }
    Py_END_ALLOW_THREADS
    result = Py_None;
    Py_INCREF(result);
done:
    for (int k = 0; k < got; k++) {
        PyBuffer_Release(&views[k]);
    }
    return result;
}

static PyMethodDef methods[] = {
    {"regress", regress, METH_VARARGS,
     "regress(t, v, lo, n, origin, slope, intercept): upstream's linearRegression per window"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_regression",
    "Prometheus' linearRegression over many windows (see _regression.c)", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__regression(void) { return PyModule_Create(&module); }
