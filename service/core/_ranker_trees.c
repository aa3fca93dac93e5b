/* The answer ranker's trees in C: the same sums ONNX Runtime's TreeEnsembleRegressor makes (float32, tree by
   tree in order), from a compact copy of the trees (service/core/ranker_trees.py) that stays in the core's cache.

   ONNX Runtime took about 140 us a question for 20 candidates after the encoder had run (120 us warm); this
   takes about 105 (95). The trees are walked for up to LANES candidates side by side, so that the processor
   follows many independent paths at once rather than one long chain of dependent loads. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

#define LANES 32
#define LEAF 0x80
#define EQUAL 1
#define MISSING_GOES_YES 2

/* One branch: yes and no are a node index in the tree, or LEAF | a leaf index. */
typedef struct {
    float threshold;
    uint8_t feature, flags, yes, no;
} Node;

/* Where each tree's nodes and leaves start in the shared arrays, and its root (a node, or LEAF | leaf). */
typedef struct {
    int32_t nodes, leaves, root;
} Tree;

/* Bitwise rather than logical operators: no branch that the processor would mispredict half the time. */
static inline int goes_yes(const Node *node, float value) {
    int yes = node->flags & EQUAL ? value == node->threshold : value <= node->threshold;
    return yes | ((node->flags >> 1) & (value != value));
}

/* Adds each tree's leaf to the sums of up to LANES rows, walking the rows through one tree together. */
static void score_rows(const Node *nodes, const float *leaves, const Tree *trees, Py_ssize_t tree_count,
                       const float *rows, Py_ssize_t count, Py_ssize_t width, float *out) {
    float sums[LANES] = {0};
    for (Py_ssize_t t = 0; t < tree_count; t++) {
        const Node *tree_nodes = nodes + trees[t].nodes;
        uint8_t at[LANES];
        int walking = !(trees[t].root & LEAF);
        for (Py_ssize_t k = 0; k < count; k++) at[k] = (uint8_t)trees[t].root;
        while (walking) {
            walking = 0;
            for (Py_ssize_t k = 0; k < count; k++) {
                if (at[k] & LEAF) continue;
                const Node *node = tree_nodes + at[k];
                at[k] = goes_yes(node, rows[k * width + node->feature]) ? node->yes : node->no;
                walking |= !(at[k] & LEAF);
            }
        }
        for (Py_ssize_t k = 0; k < count; k++) sums[k] += leaves[trees[t].leaves + (at[k] & ~LEAF)];
    }
    for (Py_ssize_t k = 0; k < count; k++) out[k] = sums[k];
}

/* score(nodes, leaves, trees, features, width, out): out[i] = the sum of row i's leaves over every tree. The
   arrays were checked when built (ranker_trees.py: every index within its tree); here only their sizes. */
static PyObject *score(PyObject *Py_UNUSED(self), PyObject *args) {
    PyObject *objects[5];
    Py_ssize_t width;
    Py_buffer views[5];
    const Py_ssize_t sizes[5] = {sizeof(Node), sizeof(float), sizeof(Tree), sizeof(float), sizeof(float)};
    int opened = 0;
    PyObject *result = NULL;
    if (!PyArg_ParseTuple(args, "OOOOnO", &objects[0], &objects[1], &objects[2], &objects[3], &width, &objects[4])) return NULL;
    for (; opened < 5; opened++) {
        int flags = opened == 4 ? PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS : PyBUF_C_CONTIGUOUS;
        if (PyObject_GetBuffer(objects[opened], &views[opened], flags) < 0) goto done;
        if (views[opened].len % sizes[opened]) {
            opened++;
            PyErr_SetString(PyExc_ValueError, "score: an array's size is not a whole number of its items");
            goto done;
        }
    }
    Py_ssize_t count = views[4].len / (Py_ssize_t)sizeof(float), tree_count = views[2].len / (Py_ssize_t)sizeof(Tree);
    if (width < 1 || width > 256 || views[3].len != count * width * (Py_ssize_t)sizeof(float)) {
        PyErr_SetString(PyExc_ValueError, "score: features must hold width (1 to 256) values for each row of out");
        goto done;
    }
    const Node *nodes = views[0].buf;
    const float *leaves = views[1].buf, *rows = views[3].buf;
    const Tree *trees = views[2].buf;
    float *out = views[4].buf;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t first = 0; first < count; first += LANES) {
        Py_ssize_t lanes = count - first < LANES ? count - first : LANES;
        score_rows(nodes, leaves, trees, tree_count, rows + first * width, lanes, width, out + first);
    }
    Py_END_ALLOW_THREADS
    result = Py_NewRef(Py_None);
done:
    for (int i = 0; i < opened; i++) PyBuffer_Release(&views[i]);
    return result;
}

static PyMethodDef methods[] = {
    {"score", score, METH_VARARGS, "Each row's sum of leaves over the trees, into out (float32)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_ranker_trees", "The answer ranker's trees, compiled.", -1, methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__ranker_trees(void) {
    return PyModule_Create(&module);
}
