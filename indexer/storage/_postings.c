/* BM25 scores from a bm25s index's postings (indexer/storage/lexical.py LexicalIndex.scores and scores_for), compiled.

   The same float32 additions in the same order as bm25s's np.add.at loop and scores_for's NumPy loop: one term
   after another, in query order. Built when a C compiler is present (the extension is optional). */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

typedef struct {
    const int64_t *indptr;
    const int32_t *indices;
    const float *data;
    Py_ssize_t columns, postings;
} Postings;

static int view(PyObject *object, Py_buffer *buffer, Py_ssize_t itemsize, int writable, const char *name) {
    if (PyObject_GetBuffer(object, buffer, writable ? PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS : PyBUF_C_CONTIGUOUS) < 0) return 0;
    if (buffer->itemsize != itemsize) {
        PyErr_Format(PyExc_ValueError, "%s: expected items of %zd bytes", name, itemsize);
        PyBuffer_Release(buffer);
        return 0;
    }
    return 1;
}

/* The postings [start, end) of a term column; 0 when the column or its span is out of range. */
static int span_of(const Postings *p, int64_t column, int64_t *start, int64_t *end) {
    if (column < 0 || column >= p->columns) return 0;
    *start = p->indptr[column];
    *end = p->indptr[column + 1];
    return 0 <= *start && *start <= *end && *end <= p->postings;
}

/* Where id sits among the sorted ids of postings [start, end), or -1 (numpy's searchsorted, then equality). */
static int64_t find(const int32_t *indices, int64_t start, int64_t end, int64_t id) {
    int64_t low = start, high = end;
    while (low < high) {
        int64_t middle = low + (high - low) / 2;
        if (indices[middle] < id) low = middle + 1;
        else high = middle;
    }
    return low < end && indices[low] == id ? low : -1;
}

static int score(const Postings *p, const int64_t *columns, Py_ssize_t terms, const int64_t *ids, Py_ssize_t count, float *out, Py_ssize_t size) {
    memset(out, 0, sizeof(float) * size);
    for (Py_ssize_t t = 0; t < terms; t++) {
        int64_t start, end;
        if (!span_of(p, columns[t], &start, &end)) return 0;
        if (ids == NULL) {
            for (int64_t j = start; j < end; j++) {
                if (p->indices[j] < 0 || p->indices[j] >= size) return 0;
                out[p->indices[j]] += p->data[j];
            }
            continue;
        }
        for (Py_ssize_t i = 0; i < count; i++) {
            int64_t at = find(p->indices, start, end, ids[i]);
            if (at >= 0) out[i] += p->data[at];
        }
    }
    return 1;
}

/* postings_scores(indptr, indices, data, columns, ids_or_None, out): out[i] = the BM25 of ids[i] (of text i
   when ids is None) for the term columns, each repeat of a term counted again. */
static PyObject *postings_scores(PyObject *Py_UNUSED(self), PyObject *args) {
    PyObject *objects[6];
    Py_buffer buffers[6];
    static const Py_ssize_t sizes[6] = {8, 4, 4, 8, 8, 4};
    static const char *names[6] = {"indptr", "indices", "data", "columns", "ids", "out"};
    int opened = 0;
    PyObject *result = NULL;
    if (!PyArg_ParseTuple(args, "OOOOOO", &objects[0], &objects[1], &objects[2], &objects[3], &objects[4], &objects[5])) return NULL;
    for (; opened < 6; opened++) {
        if (opened == 4 && objects[4] == Py_None) { buffers[4].obj = NULL; buffers[4].buf = NULL; buffers[4].len = 0; continue; }
        if (!view(objects[opened], &buffers[opened], sizes[opened], opened == 5, names[opened])) goto done;
    }
    {
        Postings p = {buffers[0].buf, buffers[1].buf, buffers[2].buf, buffers[0].len / 8 - 1, buffers[1].len / 4};
        Py_ssize_t size = buffers[5].len / 4, count = buffers[4].len / 8;
        if (buffers[2].len / 4 != p.postings || (buffers[4].buf != NULL && count != size)) {
            PyErr_SetString(PyExc_ValueError, "postings_scores: array sizes do not agree");
            goto done;
        }
        int scored;
        /* Plain C on buffers held above: other threads run Python meanwhile (a large index's postings are long). */
        Py_BEGIN_ALLOW_THREADS
        scored = score(&p, buffers[3].buf, buffers[3].len / 8, buffers[4].buf, count, buffers[5].buf, size);
        Py_END_ALLOW_THREADS
        if (!scored) {
            PyErr_SetString(PyExc_ValueError, "postings_scores: a term or a posting lies outside the index");
            goto done;
        }
        result = Py_NewRef(Py_None);
    }
done:
    for (int i = 0; i < opened; i++)
        if (buffers[i].obj != NULL) PyBuffer_Release(&buffers[i]);
    return result;
}

static PyMethodDef methods[] = {
    {"postings_scores", postings_scores, METH_VARARGS, "BM25 of every text, or of chosen ids, from the postings, into out."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_postings", "BM25 from postings, compiled.", -1, methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__postings(void) { return PyModule_Create(&module); }
