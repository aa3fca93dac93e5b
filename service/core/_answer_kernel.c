/* The answer step's per-candidate work in C: the candidate sentences of the ranked chunks, their sentence BM25,
   and the whole feature matrix the ranker reads (service/core/answer_kernel.py calls these).

   The same numbers as the NumPy functions in service/core/candidates.py, sentence_terms.py and
   sentence_features.py (the same float64 and float32 operations in the same order), without their hundred small
   array calls per question: on 20 candidates those calls, not the arithmetic, were the cost. Built when a C compiler is present
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

/* The question-independent and per-question inputs of one call, as candidate_matrix reads them. */
typedef struct {
    const int64_t *rows, *documents, *question, *pairs, *named;
    const double *weights;
    const float *dense, *dense_prev, *dense_next, *lexical, *passage_score, *passage_rank, *chunk_dense, *chunk_lexical, *document_lexical;
    Py_ssize_t count, terms, pair_total, named_count;
    double total, pair_count, background_mean, background_std, question_type;
} Inputs;

/* Columns of FEATURES (service/core/sentence_features.py), in order; answer_kernel.py checks the names. */
enum {
    DENSE, DENSE_GAP, DENSE_RANK, DENSE_PREV, DENSE_NEXT, DENSE_Z, LEXICAL_SHARE, LEXICAL_RANK, LEXICAL_OF_QUERY, COVERAGE,
    PASSAGE_SCORE = COVERAGE + 9, PASSAGE_RANK, CHUNK_DENSE, CHUNK_LEXICAL, DOCUMENT_LEXICAL, DOCUMENT_BEST_PASSAGE,
    STARTS_PARAGRAPH = DOCUMENT_BEST_PASSAGE + 5, ENDS_PARAGRAPH, QUESTION_TYPE, QUESTION_TERMS, HAS_NUMBER, COLUMNS = HAS_NUMBER + 5
};

/* The largest value (NaN if any is NaN, as numpy's max), -inf for none. */
static float largest_of(const float *values, Py_ssize_t count) {
    float most = -INFINITY;
    for (Py_ssize_t i = 0; i < count; i++) {
        if (isnan(values[i])) return NAN;
        if (values[i] > most) most = values[i];
    }
    return most;
}

/* ranks(): 1 + how many values are higher. */
static float rank_of(const float *values, Py_ssize_t count, Py_ssize_t i) {
    Py_ssize_t higher = 0;
    for (Py_ssize_t k = 0; k < count; k++) higher += values[k] > values[i];
    return (float)(higher + 1);
}

/* The term columns (9, from COVERAGE) and table signals (5, from HAS_NUMBER) of candidate i. */
static int term_columns(const Table *t, const Inputs *in, Py_ssize_t i, uint64_t own, uint64_t context, uint64_t document, double largest, float *row) {
    int64_t id = in->rows[i], start, end, name_start, name_end, known = 0;
    double pair_share, spread;
    float *terms = row + COVERAGE, *signals = row + HAS_NUMBER;
    if (id < 0 || !row_span(t->term_offsets, t->sentences, t->terms, id, &start, &end) ||
        !row_span(t->name_offsets, t->sentences, t->names, id, &name_start, &name_end))
        return 0;
    order_columns(t, start, end, in->question, in->terms, in->pairs, in->pair_total, in->pair_count, &pair_share, &spread);
    terms[0] = (float)weighted_share(own, in->weights, in->terms, in->total);
    terms[1] = (float)weighted_share(context, in->weights, in->terms, in->total);
    terms[2] = (float)weighted_share(document, in->weights, in->terms, in->total);
    terms[3] = (float)(t->distinct[id] - __builtin_popcountll(own));
    terms[4] = (float)pair_share;
    terms[5] = (float)spread;
    terms[6] = (float)largest_missing(context, in->weights, in->terms, largest);
    terms[7] = (float)largest_missing(document, in->weights, in->terms, largest);
    terms[8] = (float)t->distinct[id];
    for (int64_t p = name_start; p < name_end; p++) known += holds(in->named, in->named_count, t->name_ids[p]);
    for (Py_ssize_t f = 0; f < 4; f++) signals[f] = (float)t->flags[id * t->flag_columns + f];
    signals[4] = (float)(name_end - name_start - known);
    row[STARTS_PARAGRAPH] = (float)t->flags[id * t->flag_columns + 4];
    row[ENDS_PARAGRAPH] = (float)t->flags[id * t->flag_columns + 5];
    return 1;
}

/* The dense, lexical, passage and document columns of candidate i (the float32 arithmetic of feature_matrix). */
static void score_columns(const Inputs *in, Py_ssize_t i, float dense_best, const float *lexical_share, float *row) {
    float mean = (float)in->background_mean, spread = (float)in->background_std, best, ignored;
    row[DENSE] = in->dense[i];
    row[DENSE_GAP] = in->dense[i] - dense_best;
    row[DENSE_RANK] = rank_of(in->dense, in->count, i);
    row[DENSE_PREV] = in->dense_prev[i];
    row[DENSE_NEXT] = in->dense_next[i];
    row[DENSE_Z] = (in->dense[i] - mean) / spread;
    row[LEXICAL_SHARE] = lexical_share[i];
    row[LEXICAL_RANK] = rank_of(in->lexical, in->count, i);
    row[LEXICAL_OF_QUERY] = in->total > 0 ? in->lexical[i] / (float)in->total : 0.0f;
    row[PASSAGE_SCORE] = in->passage_score[i];
    row[PASSAGE_RANK] = in->passage_rank[i];
    row[CHUNK_DENSE] = in->chunk_dense[i];
    row[CHUNK_LEXICAL] = in->chunk_lexical[i];
    row[DOCUMENT_LEXICAL] = in->document_lexical[i];
    by_document(in->documents, in->passage_score, in->count, i, &row[DOCUMENT_BEST_PASSAGE], &ignored);
    by_document(in->documents, in->dense, in->count, i, &best, &row[DOCUMENT_BEST_PASSAGE + 3]);
    row[DOCUMENT_BEST_PASSAGE + 1] = in->dense[i] - best;
    by_document(in->documents, lexical_share, in->count, i, &best, &row[DOCUMENT_BEST_PASSAGE + 4]);
    row[DOCUMENT_BEST_PASSAGE + 2] = lexical_share[i] - best;
    row[QUESTION_TYPE] = (float)in->question_type;
    row[QUESTION_TERMS] = (float)in->terms;
}

/* Every row of the matrix, once the inputs are read; 0 when a candidate lies outside the table. */
static int fill_matrix(const Table *t, const Inputs *in, uint64_t *mask, float *lexical_share, float *out) {
    Py_ssize_t count = in->count;
    uint64_t *document = mask + 3 * count;
    double largest = 0.0;
    float dense_best = count ? largest_of(in->dense, count) : 0.0f, lexical_best = count ? largest_of(in->lexical, count) : 0.0f;
    if (!held_terms(t, in->rows, 3 * count, in->question, in->terms, mask)) return 0;
    for (Py_ssize_t j = 0; j < in->terms; j++) if (in->weights[j] > largest) largest = in->weights[j];
    /* A term is in a candidate's document when any candidate of that document has it in context. */
    for (Py_ssize_t i = 0; i < count; i++)
        for (Py_ssize_t k = 0; k < count; k++)
            if (in->documents[k] == in->documents[i]) document[i] |= mask[k] | mask[count + k] | mask[2 * count + k];
    for (Py_ssize_t i = 0; i < count; i++) lexical_share[i] = lexical_best > 0 ? in->lexical[i] / lexical_best : 0.0f;
    for (Py_ssize_t i = 0; i < count; i++) {
        float *row = out + COLUMNS * i;
        if (!term_columns(t, in, i, mask[i], mask[i] | mask[count + i] | mask[2 * count + i], document[i], largest, row)) return 0;
        score_columns(in, i, dense_best, lexical_share, row);
    }
    return 1;
}

#define MATRIX_ARRAYS 22

/* candidate_matrix(term_offsets, term_ids, name_offsets, name_ids, distinct, flags, rows, documents, question, weights,
   pairs, named, dense, dense_prev, dense_next, lexical, passage_score, passage_rank, chunk_dense, chunk_lexical,
   document_lexical, out, total, pair_count, background_mean, background_std, question_type):
   sentence_features.feature_matrix into out (n x COLUMNS). False, with out untouched, when a score is NaN (NumPy's
   sort-based ranks order NaNs their own way, so the caller computes those). */
static PyObject *candidate_matrix(PyObject *Py_UNUSED(self), PyObject *args) {
    static const char *names[MATRIX_ARRAYS] = {"term_offsets", "term_ids", "name_offsets", "name_ids", "distinct", "flags", "rows", "documents",
                                               "question", "weights", "pairs", "named", "dense", "dense_prev", "dense_next", "lexical",
                                               "passage_score", "passage_rank", "chunk_dense", "chunk_lexical", "document_lexical", "out"};
    static const Py_ssize_t sizes[MATRIX_ARRAYS] = {8, 4, 8, 4, 4, 1, 8, 8, 8, 8, 8, 8, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4};
    Argument a[MATRIX_ARRAYS];
    PyObject *objects[MATRIX_ARRAYS];
    Py_buffer v[MATRIX_ARRAYS];
    Py_ssize_t opened = 0;
    Inputs in;
    uint64_t *mask = NULL;
    float *shares = NULL;
    PyObject *result = NULL;
    if (!PyArg_ParseTuple(args, "OOOOOOOOOOOOOOOOOOOOOOddddd", &objects[0], &objects[1], &objects[2], &objects[3], &objects[4], &objects[5],
                          &objects[6], &objects[7], &objects[8], &objects[9], &objects[10], &objects[11], &objects[12], &objects[13], &objects[14],
                          &objects[15], &objects[16], &objects[17], &objects[18], &objects[19], &objects[20], &objects[21], &in.total,
                          &in.pair_count, &in.background_mean, &in.background_std, &in.question_type))
        return NULL;
    for (int i = 0; i < MATRIX_ARRAYS; i++) a[i] = (Argument){objects[i], sizes[i], i == MATRIX_ARRAYS - 1, names[i]};
    if (open_buffers(a, v, MATRIX_ARRAYS, &opened)) {
        Py_ssize_t sentences = v[4].len / 4;
        Table t = {v[0].buf, v[2].buf, v[1].buf, v[3].buf, v[4].buf, v[5].buf, sentences, v[1].len / 4, v[3].len / 4,
                   sentences ? v[5].len / sentences : 0};
        int agree = 1;
        in.count = v[7].len / 8;
        for (int i = 12; i < 21; i++) agree &= v[i].len / 4 == in.count;
        in.rows = v[6].buf, in.documents = v[7].buf, in.question = v[8].buf, in.weights = v[9].buf, in.pairs = v[10].buf, in.named = v[11].buf;
        in.dense = v[12].buf, in.dense_prev = v[13].buf, in.dense_next = v[14].buf, in.lexical = v[15].buf, in.passage_score = v[16].buf;
        in.passage_rank = v[17].buf, in.chunk_dense = v[18].buf, in.chunk_lexical = v[19].buf, in.document_lexical = v[20].buf;
        in.terms = v[8].len / 8, in.pair_total = v[10].len / 16, in.named_count = v[11].len / 8;
        if (!agree || in.terms > 64 || v[9].len / 8 != in.terms || v[6].len / 8 != 3 * in.count || v[0].len / 8 != sentences + 1 ||
            v[2].len / 8 != sentences + 1 || t.flag_columns < 6 || v[21].len / 4 != COLUMNS * in.count) {
            PyErr_SetString(PyExc_ValueError, "candidate_matrix: array sizes do not agree (or more than 64 question terms)");
            goto done;
        }
        if (in.count && (isnan(largest_of(in.dense, in.count)) || isnan(largest_of(in.lexical, in.count)))) {
            result = Py_NewRef(Py_False);
            goto done;
        }
        mask = PyMem_Calloc(4 * in.count + 1, sizeof(uint64_t));
        shares = PyMem_Calloc(in.count + 1, sizeof(float));
        if (mask == NULL || shares == NULL) { PyErr_NoMemory(); goto done; }
        int filled;
        /* Plain C on buffers held above: other answering threads run Python meanwhile. */
        Py_BEGIN_ALLOW_THREADS
        filled = fill_matrix(&t, &in, mask, shares, v[21].buf);
        Py_END_ALLOW_THREADS
        if (!filled) { out_of_table(); goto done; }
        result = Py_NewRef(Py_True);
    }
done:
    PyMem_Free(mask);
    PyMem_Free(shares);
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

/* convex_fusion(columns, coefficients, out): fusion.convex_fusion_arrays. Each float32 column min-max normalised
   in float64 (all ones when flat), times its coefficient (weight / total), added to out in the columns' order. */
static PyObject *convex_fusion(PyObject *Py_UNUSED(self), PyObject *args) {
    PyObject *columns, *coefficients, *out_object;
    Py_buffer out;
    PyObject *result = NULL;
    if (!PyArg_ParseTuple(args, "O!O!O", &PyTuple_Type, &columns, &PyTuple_Type, &coefficients, &out_object)) return NULL;
    if (PyTuple_GET_SIZE(columns) != PyTuple_GET_SIZE(coefficients)) {
        PyErr_SetString(PyExc_ValueError, "convex_fusion: one coefficient per column");
        return NULL;
    }
    if (!buffer_of(out_object, &out, 8, 1, "out")) return NULL;
    double *fused = out.buf;
    Py_ssize_t count = out.len / 8;
    for (Py_ssize_t i = 0; i < count; i++) fused[i] = 0.0;
    for (Py_ssize_t c = 0; c < PyTuple_GET_SIZE(columns); c++) {
        Py_buffer column;
        double coefficient = PyFloat_AsDouble(PyTuple_GET_ITEM(coefficients, c)), low = INFINITY, high = -INFINITY;
        if ((coefficient == -1.0 && PyErr_Occurred()) || !buffer_of(PyTuple_GET_ITEM(columns, c), &column, 4, 0, "column")) goto done;
        const float *values = column.buf;
        if (column.len / 4 != count) {
            PyErr_SetString(PyExc_ValueError, "convex_fusion: columns and out differ in length");
            PyBuffer_Release(&column);
            goto done;
        }
        for (Py_ssize_t i = 0; i < count; i++) {
            double value = values[i];
            /* numpy's min and max: NaN if any is NaN */
            if (isnan(value) || isnan(low)) low = high = NAN;
            else { if (value < low) low = value; if (value > high) high = value; }
        }
        for (Py_ssize_t i = 0; i < count; i++) fused[i] = fused[i] + coefficient * (high == low ? 1.0 : ((double)values[i] - low) / (high - low));
        PyBuffer_Release(&column);
    }
    result = Py_NewRef(Py_None);
done:
    PyBuffer_Release(&out);
    return result;
}

/* best_in_spans(similarity, chunk_spans, chunk_ids, out): retrieval.best_sentence_scores over precomputed
   similarities: the largest of each chunk's sentences (its first when it has none; NaN if any is NaN). */
static PyObject *best_in_spans(PyObject *Py_UNUSED(self), PyObject *args) {
    Argument a[4] = {{NULL, 4, 0, "similarity"}, {NULL, 8, 0, "chunk_spans"}, {NULL, 8, 0, "chunk_ids"}, {NULL, 4, 1, "out"}};
    Py_buffer v[4];
    Py_ssize_t opened = 0;
    PyObject *result = NULL;
    if (!PyArg_ParseTuple(args, "OOOO", &a[0].object, &a[1].object, &a[2].object, &a[3].object)) return NULL;
    if (open_buffers(a, v, 4, &opened)) {
        const float *similarity = v[0].buf;
        const int64_t *spans = v[1].buf, *ids = v[2].buf;
        float *out = v[3].buf;
        Py_ssize_t sentences = v[0].len / 4, chunks = v[1].len / 48, count = v[2].len / 8;
        if (v[1].len % 48 || v[3].len / 4 != count) {
            PyErr_SetString(PyExc_ValueError, "best_in_spans: chunk spans have 6 columns, out one value per chunk id");
            goto done;
        }
        for (Py_ssize_t c = 0; c < count; c++) {
            const int64_t *span = spans + 6 * ids[c];
            int64_t first, length;
            if (ids[c] < 0 || ids[c] >= chunks) { PyErr_SetString(PyExc_ValueError, "best_in_spans: a chunk id lies outside the index"); goto done; }
            first = span[4], length = span[5] > 1 ? span[5] : 1;
            if (first < 0 || first + length > sentences) { out_of_table(); goto done; }
            float best = similarity[first];
            for (int64_t s = first + 1; s < first + length && !isnan(best); s++)
                best = isnan(similarity[s]) || similarity[s] > best ? similarity[s] : best;
            out[c] = best;
        }
        result = Py_NewRef(Py_None);
    }
done:
    close_buffers(v, opened);
    return result;
}

static PyMethodDef methods[] = {
    {"candidate_bm25", candidate_bm25, METH_VARARGS, "Fill out with the candidates' sentence BM25 (bm25_scores)."},
    {"candidate_matrix", candidate_matrix, METH_VARARGS, "Fill the candidates' feature matrix (sentence_features.feature_matrix)."},
    {"convex_fusion", convex_fusion, METH_VARARGS, "Min-max normalised columns, weighted and summed, into out (float64)."},
    {"best_in_spans", best_in_spans, METH_VARARGS, "Each chunk's best sentence similarity, into out (float32)."},
    {"candidate_sentences", candidate_sentences, METH_VARARGS, "The ranked chunks' sentences once each, with chunk row, neighbours, document."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_answer_kernel", "The answer step's per-candidate work, compiled.", -1, methods, NULL, NULL, NULL, NULL};

/* The columns candidate_matrix writes, by name in its order: answer_kernel.py compares them with FEATURES. */
static const char *feature_names[COLUMNS] = {
    "dense", "dense_gap", "dense_rank", "dense_prev", "dense_next", "dense_z", "lexical_share", "lexical_rank", "lexical_of_query",
    "coverage", "coverage_context", "coverage_document", "novel_terms", "bigrams", "match_spread", "missing_context",
    "missing_document", "tokens", "passage_score", "passage_rank", "chunk_dense", "chunk_lexical_share", "document_lexical_share",
    "document_best_passage", "document_dense_gap", "document_lexical_gap", "dense_rank_in_document", "lexical_rank_in_document",
    "starts_paragraph", "ends_paragraph", "question_type", "question_terms", "has_number", "has_year", "has_month", "has_amount",
    "new_names",
};

PyMODINIT_FUNC PyInit__answer_kernel(void) {
    PyObject *created = PyModule_Create(&module), *names;
    if (created == NULL) return NULL;
    names = PyTuple_New(COLUMNS);
    for (Py_ssize_t i = 0; names != NULL && i < COLUMNS; i++) {
        PyObject *name = PyUnicode_FromString(feature_names[i]);
        if (name == NULL) Py_CLEAR(names);
        else PyTuple_SET_ITEM(names, i, name);
    }
    if (names == NULL || PyModule_AddObject(created, "FEATURES", names) < 0) {
        Py_XDECREF(names);
        Py_DECREF(created);
        return NULL;
    }
    return created;
}
