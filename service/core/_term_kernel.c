/* The candidates' term columns, sentence BM25 and table signals in one pass over the sentence table.

   The same numbers as the NumPy functions in service/core/sentence_terms.py and sentence_features.py (the same
   float64 operations in the same order, then float32), without their hundred small array calls per question:
   on 20 candidates those calls, not the arithmetic, were the cost. Built when a C compiler is present
   (pyproject.toml marks the extension optional); without it the NumPy code runs. Compiled with
   -ffp-contract=off so that no multiply-add is fused and every sum rounds as NumPy's does. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

typedef struct {
    const int64_t *term_offsets, *name_offsets;
    const int32_t *term_ids, *name_ids, *distinct;
    const uint8_t *flags;
    Py_ssize_t sentences, terms, names, flag_columns;
} Table;

/* Whether a short list (a question's terms or names) holds a value. */
static int holds(const int64_t *values, Py_ssize_t count, int64_t value) {
    for (Py_ssize_t i = 0; i < count; i++)
        if (values[i] == value) return 1;
    return 0;
}

/* The span [start, end) of a sentence's CSR row, empty for -1; 0 when the id or the row is out of range. */
static int row_span(const int64_t *offsets, Py_ssize_t sentences, Py_ssize_t values, int64_t id, int64_t *start, int64_t *end) {
    *start = *end = 0;
    if (id < 0) return 1;
    if (id >= sentences) return 0;
    *start = offsets[id];
    *end = offsets[id + 1];
    return 0 <= *start && *start <= *end && *end <= values;
}

/* Bit j of mask[r] set: row r (a candidate, its previous or its next sentence) holds question term j. */
static int held_terms(const Table *t, const int64_t *rows, Py_ssize_t count, const int64_t *question, Py_ssize_t terms, uint64_t *mask) {
    for (Py_ssize_t r = 0; r < count; r++) {
        int64_t start, end;
        mask[r] = 0;
        if (!row_span(t->term_offsets, t->sentences, t->terms, rows[r], &start, &end)) return 0;
        for (int64_t p = start; p < end; p++)
            for (Py_ssize_t j = 0; j < terms; j++)
                if (question[j] >= 0 && t->term_ids[p] == question[j]) mask[r] |= (uint64_t)1 << j;
    }
    return 1;
}

/* weighted_share: the weights of held terms summed left to right, over total. */
static double weighted_share(uint64_t mask, const double *weights, Py_ssize_t terms, double total) {
    double sum = 0.0;
    if (total == 0.0 || terms == 0) return 0.0;
    for (Py_ssize_t j = 0; j < terms; j++) sum += (mask >> j) & 1 ? weights[j] : 0.0;
    return sum / total;
}

/* largest_missing: the largest weight of a term not held (at least 0), over the largest weight. */
static double largest_missing(uint64_t mask, const double *weights, Py_ssize_t terms, double largest) {
    double most = 0.0;
    if (!(largest > 0.0)) return 0.0;
    for (Py_ssize_t j = 0; j < terms; j++)
        if (!((mask >> j) & 1) && weights[j] > most) most = weights[j];
    return most / largest;
}

/* Shared adjacent pairs over pair_count, and the span of question terms over the length (two hits or more). */
static void order_columns(const Table *t, int64_t start, int64_t end, const int64_t *question, Py_ssize_t terms,
                          const int64_t *pairs, Py_ssize_t pair_total, double pair_count, double *pair_share, double *spread) {
    Py_ssize_t matched = 0;
    int64_t first = -1, last = -1;
    for (Py_ssize_t k = 0; k < pair_total; k++) {
        for (int64_t p = start; p + 1 < end; p++)
            if (t->term_ids[p] == pairs[2 * k] && t->term_ids[p + 1] == pairs[2 * k + 1]) { matched++; break; }
    }
    for (int64_t p = start; p < end; p++)
        if (holds(question, terms, t->term_ids[p])) { if (first < 0) first = p; last = p; }
    *pair_share = pair_count > 0 ? (double)matched / pair_count : 0.0;
    *spread = last > first ? (double)(last - first + 1) / (double)(end - start > 0 ? end - start : 1) : 0.0;
}

/* Sentence BM25 (Lucene) of the bm25 terms, each occurrence of a term in the query counted again. */
static double bm25(const Table *t, int64_t start, int64_t end, const int64_t *ids, const double *idfs, Py_ssize_t count,
                   double k1, double b, double average_length) {
    int64_t length = end - start;
    double norm = k1 * ((1.0 - b) + (b * (double)(length > 1 ? length : 1)) / average_length);
    double result = 0.0;
    for (Py_ssize_t k = 0; k < count; k++) {
        int64_t hits = 0;
        for (int64_t p = start; p < end; p++) hits += t->term_ids[p] == ids[k];
        result = result + (hits > 0 ? (idfs[k] * (double)hits) / ((double)hits + norm) : 0.0);
    }
    return result;
}

static int buffer_of(PyObject *object, Py_buffer *view, Py_ssize_t itemsize, int writable, const char *name) {
    if (PyObject_GetBuffer(object, view, writable ? PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS : PyBUF_C_CONTIGUOUS) < 0) return 0;
    if (view->itemsize != itemsize || view->len % itemsize) {
        PyErr_Format(PyExc_ValueError, "%s: expected items of %zd bytes", name, itemsize);
        PyBuffer_Release(view);
        return 0;
    }
    return 1;
}

/* The buffers of a call's arrays: item sizes, and which ones are written. */
typedef struct {
    PyObject *object;
    Py_ssize_t itemsize;
    int writable;
    const char *name;
} Argument;

static int open_buffers(Argument *arguments, Py_buffer *views, Py_ssize_t count, Py_ssize_t *opened) {
    for (*opened = 0; *opened < count; (*opened)++)
        if (!buffer_of(arguments[*opened].object, &views[*opened], arguments[*opened].itemsize, arguments[*opened].writable, arguments[*opened].name))
            return 0;
    return 1;
}

static void close_buffers(Py_buffer *views, Py_ssize_t opened) {
    for (Py_ssize_t i = 0; i < opened; i++) PyBuffer_Release(&views[i]);
}

static PyObject *out_of_table(void) {
    PyErr_SetString(PyExc_ValueError, "a sentence id or its terms lie outside the sentence table");
    return NULL;
}

/* candidate_bm25(term_offsets, term_ids, ids, bm25_ids, idfs, out, k1, b, average_length): sentence_terms.bm25_scores. */
static PyObject *candidate_bm25(PyObject *Py_UNUSED(self), PyObject *args) {
    Argument a[6] = {{NULL, 8, 0, "term_offsets"}, {NULL, 4, 0, "term_ids"}, {NULL, 8, 0, "ids"}, {NULL, 8, 0, "bm25_ids"}, {NULL, 8, 0, "idfs"}, {NULL, 4, 1, "out"}};
    Py_buffer v[6];
    Py_ssize_t opened = 0;
    double k1, b, average_length;
    PyObject *result = NULL;
    if (!PyArg_ParseTuple(args, "OOOOOOddd", &a[0].object, &a[1].object, &a[2].object, &a[3].object, &a[4].object, &a[5].object, &k1, &b, &average_length))
        return NULL;
    if (open_buffers(a, v, 6, &opened)) {
        Table t = {v[0].buf, NULL, v[1].buf, NULL, NULL, NULL, v[0].len / 8 - 1, v[1].len / 4, 0, 0};
        const int64_t *ids = v[2].buf;
        Py_ssize_t count = v[2].len / 8, terms = v[3].len / 8;
        float *out = v[5].buf;
        if (v[4].len / 8 != terms || v[5].len / 4 != count || !(average_length > 0)) {
            PyErr_SetString(PyExc_ValueError, "candidate_bm25: array sizes do not agree");
            goto done;
        }
        for (Py_ssize_t i = 0; i < count; i++) {
            int64_t start, end;
            if (ids[i] < 0 || !row_span(t.term_offsets, t.sentences, t.terms, ids[i], &start, &end)) { out_of_table(); goto done; }
            out[i] = (float)bm25(&t, start, end, v[3].buf, v[4].buf, terms, k1, b, average_length);
        }
        result = Py_NewRef(Py_None);
    }
done:
    close_buffers(v, opened);
    return result;
}

/* The columns of one candidate: term columns (row of 9) and table signals (row of 5). */
static int fill_candidate(const Table *t, int64_t id, uint64_t own, uint64_t context, uint64_t document, const int64_t *question,
                          const double *weights, Py_ssize_t terms, double total, double largest, const int64_t *pairs, Py_ssize_t pair_total,
                          double pair_count, const int64_t *named, Py_ssize_t named_count, float *row, float *signals) {
    int64_t start, end, name_start, name_end, known = 0;
    double pair_share, spread;
    if (id < 0 || !row_span(t->term_offsets, t->sentences, t->terms, id, &start, &end) ||
        !row_span(t->name_offsets, t->sentences, t->names, id, &name_start, &name_end))
        return 0;
    order_columns(t, start, end, question, terms, pairs, pair_total, pair_count, &pair_share, &spread);
    row[0] = (float)weighted_share(own, weights, terms, total);
    row[1] = (float)weighted_share(context, weights, terms, total);
    row[2] = (float)weighted_share(document, weights, terms, total);
    row[3] = (float)(t->distinct[id] - __builtin_popcountll(own));
    row[4] = (float)pair_share;
    row[5] = (float)spread;
    row[6] = (float)largest_missing(context, weights, terms, largest);
    row[7] = (float)largest_missing(document, weights, terms, largest);
    row[8] = (float)t->distinct[id];
    for (int64_t p = name_start; p < name_end; p++) known += holds(named, named_count, t->name_ids[p]);
    for (Py_ssize_t f = 0; f < 4; f++) signals[f] = (float)t->flags[id * t->flag_columns + f];
    signals[4] = (float)(name_end - name_start - known);
    return 1;
}

/* candidate_terms(term_offsets, term_ids, name_offsets, name_ids, distinct, flags, rows, documents, question, weights,
   pairs, named, terms_out, signals_out, total, pair_count): sentence_features.term_columns and table_signals. */
static PyObject *candidate_terms(PyObject *Py_UNUSED(self), PyObject *args) {
    Argument a[14] = {{NULL, 8, 0, "term_offsets"}, {NULL, 4, 0, "term_ids"}, {NULL, 8, 0, "name_offsets"}, {NULL, 4, 0, "name_ids"},
                      {NULL, 4, 0, "distinct"}, {NULL, 1, 0, "flags"}, {NULL, 8, 0, "rows"}, {NULL, 8, 0, "documents"},
                      {NULL, 8, 0, "question"}, {NULL, 8, 0, "weights"}, {NULL, 8, 0, "pairs"}, {NULL, 8, 0, "named"},
                      {NULL, 4, 1, "terms_out"}, {NULL, 4, 1, "signals_out"}};
    Py_buffer v[14];
    Py_ssize_t opened = 0;
    double total, pair_count, largest = 0.0;
    uint64_t *mask = NULL;
    PyObject *result = NULL;
    if (!PyArg_ParseTuple(args, "OOOOOOOOOOOOOOdd", &a[0].object, &a[1].object, &a[2].object, &a[3].object, &a[4].object, &a[5].object,
                          &a[6].object, &a[7].object, &a[8].object, &a[9].object, &a[10].object, &a[11].object, &a[12].object, &a[13].object,
                          &total, &pair_count))
        return NULL;
    if (open_buffers(a, v, 14, &opened)) {
        Py_ssize_t sentences = v[4].len / 4, count = v[7].len / 8, terms = v[8].len / 8;
        Table t = {v[0].buf, v[2].buf, v[1].buf, v[3].buf, v[4].buf, v[5].buf, sentences, v[1].len / 4, v[3].len / 4,
                   sentences ? v[5].len / sentences : 0};
        const int64_t *rows = v[6].buf, *documents = v[7].buf;
        const double *weights = v[9].buf;
        if (terms > 64 || v[9].len / 8 != terms || v[6].len / 8 != 3 * count || v[0].len / 8 != sentences + 1 ||
            v[2].len / 8 != sentences + 1 || t.flag_columns < 4 || v[12].len / 4 != 9 * count || v[13].len / 4 != 5 * count) {
            PyErr_SetString(PyExc_ValueError, "candidate_terms: array sizes do not agree (or more than 64 question terms)");
            goto done;
        }
        mask = PyMem_Calloc(4 * count + 1, sizeof(uint64_t));
        if (mask == NULL) { PyErr_NoMemory(); goto done; }
        if (!held_terms(&t, rows, 3 * count, v[8].buf, terms, mask)) { out_of_table(); goto done; }
        for (Py_ssize_t j = 0; j < terms; j++) if (weights[j] > largest) largest = weights[j];
        /* A term is in a candidate's document when any candidate of that document has it in context. */
        uint64_t *document = mask + 3 * count;
        for (Py_ssize_t i = 0; i < count; i++)
            for (Py_ssize_t k = 0; k < count; k++)
                if (documents[k] == documents[i]) document[i] |= mask[k] | mask[count + k] | mask[2 * count + k];
        for (Py_ssize_t i = 0; i < count; i++) {
            uint64_t context = mask[i] | mask[count + i] | mask[2 * count + i];
            if (!fill_candidate(&t, rows[i], mask[i], context, document[i], v[8].buf, weights, terms, total, largest, v[10].buf,
                                v[10].len / 16, pair_count, v[11].buf, v[11].len / 8, (float *)v[12].buf + 9 * i, (float *)v[13].buf + 5 * i)) {
                out_of_table();
                goto done;
            }
        }
        result = Py_NewRef(Py_None);
    }
done:
    PyMem_Free(mask);
    close_buffers(v, opened);
    return result;
}

/* For each candidate: the best value among its document's candidates (NaN if any is NaN, as numpy's max) and
   its rank among them, 1 + how many score higher. */
static void by_document(const int64_t *documents, const float *values, Py_ssize_t count, Py_ssize_t i, float *best, float *rank) {
    float most = -INFINITY;
    Py_ssize_t higher = 0;
    for (Py_ssize_t k = 0; k < count; k++) {
        if (documents[k] != documents[i]) continue;
        if (isnan(values[k]) || isnan(most)) most = NAN;
        else if (values[k] > most) most = values[k];
        higher += values[k] > values[i];
    }
    *best = most;
    *rank = (float)(higher + 1);
}

/* candidate_documents(documents, passage_score, dense, lexical_share, out): sentence_features.document_columns (n x 5). */
static PyObject *candidate_documents(PyObject *Py_UNUSED(self), PyObject *args) {
    Argument a[5] = {{NULL, 8, 0, "documents"}, {NULL, 4, 0, "passage_score"}, {NULL, 4, 0, "dense"}, {NULL, 4, 0, "lexical_share"}, {NULL, 4, 1, "out"}};
    Py_buffer v[5];
    Py_ssize_t opened = 0;
    PyObject *result = NULL;
    if (!PyArg_ParseTuple(args, "OOOOO", &a[0].object, &a[1].object, &a[2].object, &a[3].object, &a[4].object)) return NULL;
    if (open_buffers(a, v, 5, &opened)) {
        Py_ssize_t count = v[0].len / 8;
        const int64_t *documents = v[0].buf;
        const float *passage = v[1].buf, *dense = v[2].buf, *lexical = v[3].buf;
        float *out = v[4].buf, ignored, best;
        if (v[1].len / 4 != count || v[2].len / 4 != count || v[3].len / 4 != count || v[4].len / 4 != 5 * count) {
            PyErr_SetString(PyExc_ValueError, "candidate_documents: array sizes do not agree");
            goto done;
        }
        for (Py_ssize_t i = 0; i < count; i++) {
            float *row = out + 5 * i;
            by_document(documents, passage, count, i, &row[0], &ignored);
            by_document(documents, dense, count, i, &best, &row[3]);
            row[1] = dense[i] - best;
            by_document(documents, lexical, count, i, &best, &row[4]);
            row[2] = lexical[i] - best;
        }
        result = Py_NewRef(Py_None);
    }
done:
    close_buffers(v, opened);
    return result;
}

/* candidate_sentences(chunk_spans, sentence_spans, chunk_ids): candidates.first_holders and neighbours. Every
   sentence of the ranked chunks once, in order of first appearance, as a bytearray of five int64 rows: the sentence
   ids, the row (in chunk_ids) of the first chunk holding each, their previous and next sentence in the same
   document (-1: none) and their document's position. */
static PyObject *candidate_sentences(PyObject *Py_UNUSED(self), PyObject *args) {
    Argument a[3] = {{NULL, 8, 0, "chunk_spans"}, {NULL, 8, 0, "sentence_spans"}, {NULL, 8, 0, "chunk_ids"}};
    Py_buffer v[3];
    Py_ssize_t opened = 0, held = 0, kept = 0;
    PyObject *result = NULL;
    if (!PyArg_ParseTuple(args, "OOO", &a[0].object, &a[1].object, &a[2].object)) return NULL;
    if (open_buffers(a, v, 3, &opened)) {
        const int64_t *chunks = v[0].buf, *sentences = v[1].buf, *ids = v[2].buf;
        Py_ssize_t chunk_count = v[0].len / 48, sentence_count = v[1].len / 24, count = v[2].len / 8;
        if (v[0].len % 48 || v[1].len % 24) {
            PyErr_SetString(PyExc_ValueError, "candidate_sentences: chunk spans have 6 columns, sentence spans 3");
            goto done;
        }
        for (Py_ssize_t c = 0; c < count; c++) {
            const int64_t *span = chunks + 6 * ids[c];
            if (ids[c] < 0 || ids[c] >= chunk_count || span[4] < 0 || span[5] < 0 || span[4] + span[5] > sentence_count) {
                PyErr_SetString(PyExc_ValueError, "candidate_sentences: a chunk id or its sentences lie outside the index");
                goto done;
            }
            held += span[5];
        }
        result = PyByteArray_FromStringAndSize(NULL, 5 * 8 * held);
        if (result == NULL) goto done;
        int64_t *out = (int64_t *)PyByteArray_AS_STRING(result);
        for (Py_ssize_t c = 0; c < count; c++) {
            const int64_t *span = chunks + 6 * ids[c];
            for (int64_t sentence = span[4]; sentence < span[4] + span[5]; sentence++) {
                int earlier = 0;
                for (Py_ssize_t e = 0; e < c && !earlier; e++) {
                    const int64_t *other = chunks + 6 * ids[e];
                    earlier = other[4] <= sentence && sentence < other[4] + other[5];
                }
                if (earlier) continue;
                int64_t document = sentences[3 * sentence];
                out[kept] = sentence;
                out[held + kept] = c;
                out[2 * held + kept] = sentence > 0 && sentences[3 * (sentence - 1)] == document ? sentence - 1 : -1;
                out[3 * held + kept] = sentence < sentence_count - 1 && sentences[3 * (sentence + 1)] == document ? sentence + 1 : -1;
                out[4 * held + kept] = document;
                kept++;
            }
        }
        /* Sentences two chunks share were counted twice: move each row up to its kept length. */
        for (int r = 1; r < 5; r++) memmove(out + r * kept, out + r * held, 8 * kept);
        if (PyByteArray_Resize(result, 5 * 8 * kept) < 0) Py_CLEAR(result);
    }
done:
    close_buffers(v, opened);
    return result;
}

static PyMethodDef methods[] = {
    {"candidate_bm25", candidate_bm25, METH_VARARGS, "Fill out with the candidates' sentence BM25 (bm25_scores)."},
    {"candidate_terms", candidate_terms, METH_VARARGS, "Fill the candidates' term columns (n x 9) and table signals (n x 5)."},
    {"candidate_sentences", candidate_sentences, METH_VARARGS, "The ranked chunks' sentences once each, with chunk row, neighbours, document."},
    {"candidate_documents", candidate_documents, METH_VARARGS, "Fill the candidates' columns against their document's others (n x 5)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_term_kernel", "The candidates' term features, compiled.", -1, methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__term_kernel(void) { return PyModule_Create(&module); }
