/*
 * The parser's shortcut for lc_wrapper's own layout (cwh/enrich/logrecord.py, `_parse_standard`),
 * in C for the live enrichment filter, where it runs once per record.
 *
 * `parse_standard(text, zones)` returns exactly what `_parse_standard` returns for the same
 * text -- the same fields, values and order -- or None. None only means "not decided here":
 * the caller then runs the Python shortcut and, if that declines too, the general path. So
 * anything unusual (a zone missing from the table, a Mapping that is not a dict, a uid with
 * more digits than a C integer holds) is simply left to Python, which also words every error.
 *
 * The text is read where it is (any of CPython's three string widths); only the values that
 * end up in the record are copied. Every check is a fixed-length comparison or one scan to
 * the end of a line, and only the header and the end block are scanned, never the code or
 * the output: the work does not depend on what the student wrote.
 */
#define _GNU_SOURCE /* memmem */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

typedef struct {
    int kind;
    const void *data;
    Py_ssize_t length;
} Text;

#define AT(t, i) PyUnicode_READ((t)->kind, (t)->data, (i))
/* Inlined into `read_layout_of_kind`, which is instantiated once per string width: the width
 * is then a constant and every character read is a plain array access. */
#define SCAN static inline __attribute__((always_inline))

static PyObject *key_lc_cell_meme, *key_start_time, *key_end_time, *key_status, *key_input,
    *key_output, *key_result, *key_results, *key_uid, *key_gid, *key_notebook_meme,
    *key_notebook_path, *key_signature, *key_path;

static const char MEME_PREFIX[] = "{\"lc_cell_meme\": {\"current\": \"";
static const char MEME_SUFFIX[] = "\"}}\n----\n";
static const char SEPARATOR_NEWLINES[] = "\n----\n";
static const char HEADER_OPENING[] = "\n----\npath: ";
static const char CANDIDATE_AT_START[] = "----\npath: ";
static const char TAIL_OPENING[] = "\n----\nend time: ";
static const char CHUNKS[] = " chunks with matched keywords or errors\n----\n";
static const char RESULT_PREFIX[] = "result: ";
static const char STATUS_PREFIX[] = "execute_reply_status: ";
static const char PATH_PREFIX[] = "path: ";
static const char NOTEBOOK_PATH_PREFIX[] = "notebook_path: ";
static const char NOTEBOOK_MEME_PREFIX[] = "lc_notebook_meme: ";
static const char SIGNATURE_PREFIX[] = "server_signature: ";
static const char UID_PREFIX[] = "uid: ";
static const char GID_PREFIX[] = "gid: ";
static const char START_PREFIX[] = "start time: ";
static const char CLOSING_SEPARATOR[] = "----\n";

static const int DAYS_BEFORE_MONTH[12] = {0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334};

/* Whether `literal` (ASCII, `size` characters) is written at `at`, ending by `limit`. */
SCAN int
has_literal(const Text *t, Py_ssize_t at, Py_ssize_t limit, const char *literal, Py_ssize_t size)
{
    if (at < 0 || at + size > limit) {
        return 0;
    }
    for (Py_ssize_t i = 0; i < size; i++) {
        if (AT(t, at + i) != (Py_UCS4)(unsigned char)literal[i]) {
            return 0;
        }
    }
    return 1;
}

#define LITERAL(t, at, limit, lit) has_literal((t), (at), (limit), (lit), (Py_ssize_t)sizeof(lit) - 1)

/* Index of the newline ending the line that starts at `at`, before `limit`; -1 when none. */
SCAN Py_ssize_t
line_end(const Text *t, Py_ssize_t at, Py_ssize_t limit)
{
    for (Py_ssize_t i = at; i < limit; i++) {
        if (AT(t, i) == '\n') {
            return i;
        }
    }
    return -1;
}

SCAN int
is_digit(Py_UCS4 c)
{
    return c >= '0' && c <= '9';
}

SCAN int
is_leap(long year)
{
    return year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
}

/* `logrecord_time.minute_seconds` of the 16 characters at `at`: 0 when valid, -1 when not. */
SCAN int
minute_seconds(const Text *t, Py_ssize_t at, long long *seconds)
{
    static const int separators[4][2] = {{4, '-'}, {7, '-'}, {10, ' '}, {13, ':'}};
    static const int fields[5][2] = {{0, 4}, {5, 2}, {8, 2}, {11, 2}, {14, 2}};
    long values[5];
    for (int i = 0; i < 16; i++) {
        if (AT(t, at + i) > 127) {
            return -1;
        }
    }
    for (int i = 0; i < 4; i++) {
        if (AT(t, at + separators[i][0]) != (Py_UCS4)separators[i][1]) {
            return -1;
        }
    }
    for (int f = 0; f < 5; f++) {
        long value = 0;
        for (int i = 0; i < fields[f][1]; i++) {
            Py_UCS4 c = AT(t, at + fields[f][0] + i);
            if (!is_digit(c)) {
                return -1;
            }
            value = value * 10 + (long)(c - '0');
        }
        values[f] = value;
    }
    long year = values[0], month = values[1], day = values[2];
    if (year < 1 || month < 1 || month > 12 || day < 1) {
        return -1;
    }
    long month_days = month == 2 ? (is_leap(year) ? 29 : 28)
                      : (month == 4 || month == 6 || month == 9 || month == 11) ? 30
                                                                                : 31;
    if (day > month_days || values[3] > 23 || values[4] > 59) {
        return -1;
    }
    long previous = year - 1;
    long long days = (long long)previous * 365 + previous / 4 - previous / 100 + previous / 400;
    days += DAYS_BEFORE_MONTH[month - 1] + ((month > 2 && is_leap(year)) ? 1 : 0);
    days += day - 1 - 719162;
    *seconds = days * 86400 + values[3] * 3600 + values[4] * 60;
    return 0;
}

/*
 * `YYYY-mm-dd HH:MM:SS(ZONE)` filling the line [at, newline): the epoch seconds, with the
 * zone's offset from `zones`. 1 when read, 0 when the line is not such a timestamp or the
 * zone is not in the table (Python decides those), -1 on a Python error.
 */
SCAN int
read_timestamp(const Text *t, PyObject *text, Py_ssize_t at, Py_ssize_t newline, PyObject *zones,
               long long *epoch)
{
    if (newline - at < 22 || AT(t, at + 16) != ':' || AT(t, at + 19) != '(' ||
        AT(t, newline - 1) != ')') {
        return 0;
    }
    Py_UCS4 tens = AT(t, at + 17), units = AT(t, at + 18);
    if (tens < '0' || tens > '5' || !is_digit(units)) {
        return 0;
    }
    long long local;
    if (minute_seconds(t, at, &local) < 0) {
        return 0;
    }
    PyObject *zone = PyUnicode_Substring(text, at + 20, newline - 1);
    if (zone == NULL) {
        return -1;
    }
    PyObject *offset = PyDict_GetItemWithError(zones, zone);
    Py_DECREF(zone);
    if (offset == NULL) {
        return PyErr_Occurred() ? -1 : 0;
    }
    if (!PyLong_CheckExact(offset)) {
        return 0;
    }
    int overflow = 0;
    long long seconds = PyLong_AsLongLongAndOverflow(offset, &overflow);
    if (overflow || (seconds == -1 && PyErr_Occurred())) {
        PyErr_Clear();
        return 0;
    }
    *epoch = local + (long long)((tens - '0') * 10 + (units - '0')) - seconds;
    return 1;
}

/* `[0-9]+` filling the line [at, newline) as an int; 0 when not (or too long for C). */
SCAN int
read_number(const Text *t, Py_ssize_t at, Py_ssize_t newline, long long *value)
{
    if (newline <= at || newline - at > 18) {
        return 0;
    }
    long long result = 0;
    for (Py_ssize_t i = at; i < newline; i++) {
        Py_UCS4 c = AT(t, i);
        if (!is_digit(c)) {
            return 0;
        }
        result = result * 10 + (long long)(c - '0');
    }
    *value = result;
    return 1;
}

/* A `<prefix><value>\n` line at `at`, its newline before `limit`: 1 with [value, value_end)
 * set, 0 when the line does not start with `prefix` or does not end by `limit`. */
SCAN int
keyed_line(const Text *t, Py_ssize_t at, Py_ssize_t limit, const char *prefix,
           Py_ssize_t prefix_size, Py_ssize_t *value, Py_ssize_t *value_end)
{
    if (!has_literal(t, at, limit, prefix, prefix_size)) {
        return 0;
    }
    Py_ssize_t newline = line_end(t, at + prefix_size, limit);
    if (newline < 0) {
        return 0;
    }
    *value = at + prefix_size;
    *value_end = newline;
    return 1;
}

#define KEYED_LINE(t, at, limit, lit, value, value_end)                                        \
    keyed_line((t), (at), (limit), (lit), (Py_ssize_t)sizeof(lit) - 1, (value), (value_end))

/* An optional `<prefix>[^\n]*\n` line: moves `at` past it and sets [value, value_end), which
 * stay -1 when the line is not there. */
#define OPTIONAL_LINE(t, at, limit, lit, value, value_end)                                     \
    do {                                                                                       \
        *(value) = *(value_end) = -1;                                                          \
        if (KEYED_LINE((t), (at), (limit), (lit), (value), (value_end))) {                     \
            (at) = *(value_end) + 1;                                                           \
        }                                                                                      \
    } while (0)

static int
set_slice(PyObject *record, PyObject *key, PyObject *text, Py_ssize_t start, Py_ssize_t end)
{
    PyObject *value = PyUnicode_Substring(text, start, end);
    if (value == NULL) {
        return -1;
    }
    int failed = PyDict_SetItem(record, key, value);
    Py_DECREF(value);
    return failed;
}

static int
set_int(PyObject *record, PyObject *key, long long number)
{
    PyObject *value = PyLong_FromLongLong(number);
    if (value == NULL) {
        return -1;
    }
    int failed = PyDict_SetItem(record, key, value);
    Py_DECREF(value);
    return failed;
}

/* `text.find(literal, start, end)` for an ASCII literal that starts with "\n-". */
SCAN Py_ssize_t
find_literal(const Text *t, Py_ssize_t start, Py_ssize_t end, const char *literal, Py_ssize_t size)
{
    if (end - start < size) {
        return -1;
    }
    if (t->kind == PyUnicode_1BYTE_KIND) {
        const char *data = (const char *)t->data;
        const char *found = memmem(data + start, (size_t)(end - start), literal, (size_t)size);
        return found == NULL ? -1 : found - data;
    }
    for (Py_ssize_t at = start; at + size <= end; at++) {
        if (AT(t, at) == '\n' && AT(t, at + 1) == '-' && has_literal(t, at, end, literal, size)) {
            return at;
        }
    }
    return -1;
}

/* `text.rfind(literal, start, end)` for an ASCII literal that starts with "\n-". */
SCAN Py_ssize_t
rfind_literal(const Text *t, Py_ssize_t start, Py_ssize_t end, const char *literal, Py_ssize_t size)
{
    for (Py_ssize_t at = end - size; at >= start; at--) {
        if (AT(t, at) == '\n' && AT(t, at + 1) == '-' && has_literal(t, at, end, literal, size)) {
            return at;
        }
    }
    return -1;
}

typedef struct {
    Py_ssize_t meme, meme_end, body_start, separator, header_end, limit;
    Py_ssize_t path, path_end, notebook_path, notebook_path_end, notebook_meme, notebook_meme_end;
    Py_ssize_t signature, signature_end, results, results_end, status, status_end;
    long long start_time, end_time, uid, gid;
} Layout;

/* 1 when the end block (from `opening`, to the end of the text) is lc_wrapper's; 0 when not. */
SCAN int
read_tail(const Text *t, PyObject *text, Py_ssize_t opening, PyObject *zones, Layout *out)
{
    Py_ssize_t end = t->length;
    Py_ssize_t stamp, newline;
    if (!KEYED_LINE(t, opening, end, TAIL_OPENING, &stamp, &newline)) {
        return 0;
    }
    int read = read_timestamp(t, text, stamp, newline, zones, &out->end_time);
    if (read <= 0) {
        return read;
    }
    Py_ssize_t at = newline + 1;
    Py_ssize_t digits = at;
    while (at < end && is_digit(AT(t, at))) {
        at++;
    }
    if (at == digits || !LITERAL(t, at, end, CHUNKS)) {
        return 0;
    }
    at += (Py_ssize_t)sizeof(CHUNKS) - 1;
    out->results = at;
    Py_ssize_t value;
    while (KEYED_LINE(t, at, end, RESULT_PREFIX, &value, &newline)) {
        if (newline == value) {
            return 0;
        }
        at = newline + 1;
    }
    out->results_end = at;
    if (!KEYED_LINE(t, at, end, STATUS_PREFIX, &out->status, &out->status_end)) {
        return 0;
    }
    return out->status_end > out->status && out->status_end == end - 1;
}

/* 1 when the only header candidate, at `out->separator`, is lc_wrapper's header; 0 when not. */
SCAN int
read_header(const Text *t, PyObject *text, PyObject *zones, Layout *out)
{
    Py_ssize_t limit = out->limit;
    Py_ssize_t value, newline;
    if (!KEYED_LINE(t, out->separator + 5, limit, PATH_PREFIX, &out->path, &out->path_end) ||
        out->path_end == out->path) {
        return 0;
    }
    Py_ssize_t at = out->path_end + 1;
    OPTIONAL_LINE(t, at, limit, NOTEBOOK_PATH_PREFIX, &out->notebook_path, &out->notebook_path_end);
    OPTIONAL_LINE(t, at, limit, NOTEBOOK_MEME_PREFIX, &out->notebook_meme, &out->notebook_meme_end);
    OPTIONAL_LINE(t, at, limit, SIGNATURE_PREFIX, &out->signature, &out->signature_end);
    if (!KEYED_LINE(t, at, limit, UID_PREFIX, &value, &newline) ||
        !read_number(t, value, newline, &out->uid)) {
        return 0;
    }
    at = newline + 1;
    if (!KEYED_LINE(t, at, limit, GID_PREFIX, &value, &newline) ||
        !read_number(t, value, newline, &out->gid)) {
        return 0;
    }
    at = newline + 1;
    if (!KEYED_LINE(t, at, limit, START_PREFIX, &value, &newline)) {
        return 0;
    }
    int read = read_timestamp(t, text, value, newline, zones, &out->start_time);
    if (read <= 0) {
        return read;
    }
    at = newline + 1;
    if (!LITERAL(t, at, limit, CLOSING_SEPARATOR)) {
        return 0;
    }
    out->header_end = at + (Py_ssize_t)sizeof(CLOSING_SEPARATOR) - 1;
    return 1;
}

/* 1 when `text` is in lc_wrapper's layout (`out` filled), 0 when not, -1 on a Python error. */
SCAN int
read_layout_of_kind(int kind, PyObject *text, PyObject *zones, Layout *out)
{
    const Text text_view = {kind, PyUnicode_DATA(text), PyUnicode_GET_LENGTH(text)};
    const Text *t = &text_view;
    Py_ssize_t length = t->length;
    out->meme = out->meme_end = -1;
    out->body_start = 0;
    if (LITERAL(t, 0, length, MEME_PREFIX)) {
        Py_ssize_t at = (Py_ssize_t)sizeof(MEME_PREFIX) - 1;
        out->meme = at;
        while (at < length) {
            Py_UCS4 c = AT(t, at);
            if (c < 0x20 || c > 0x7e || c == '"' || c == '\\') {
                break;
            }
            at++;
        }
        out->meme_end = at;
        if (!LITERAL(t, at, length, MEME_SUFFIX)) {
            return 0;
        }
        out->body_start = at + (Py_ssize_t)sizeof(MEME_SUFFIX) - 1;
    }
    else {
        Py_UCS4 first = AT(t, 0);
        if (first == '{' || first == ' ' || first == '\t' || first == '\r' || first == '\n') {
            return 0;
        }
    }

    Py_ssize_t separator_size = (Py_ssize_t)sizeof(SEPARATOR_NEWLINES) - 1;
    Py_ssize_t closing = rfind_literal(t, out->body_start, length, SEPARATOR_NEWLINES, separator_size);
    if (closing < 0) {
        return 0;
    }
    Py_ssize_t opening = rfind_literal(t, out->body_start, closing, SEPARATOR_NEWLINES, separator_size);
    if (opening < 0) {
        return 0;
    }
    int read = read_tail(t, text, opening, zones, out);
    if (read <= 0) {
        return read;
    }

    out->limit = opening + 1;
    if (out->body_start || !LITERAL(t, 0, length, CANDIDATE_AT_START)) {
        Py_ssize_t from = out->body_start ? out->body_start - 1 : 0;
        Py_ssize_t found = find_literal(t, from, out->limit, HEADER_OPENING,
                                        (Py_ssize_t)sizeof(HEADER_OPENING) - 1);
        if (found < 0) {
            return 0;
        }
        out->separator = found + 1;
    }
    else {
        out->separator = 0;
    }
    if (find_literal(t, out->separator + 5, out->limit, HEADER_OPENING,
                     (Py_ssize_t)sizeof(HEADER_OPENING) - 1) >= 0) {
        return 0; /* several candidates: they need ranking */
    }
    return read_header(t, text, zones, out);
}

static int
read_layout(PyObject *text, PyObject *zones, Layout *out)
{
    switch (PyUnicode_KIND(text)) {
    case PyUnicode_1BYTE_KIND:
        return read_layout_of_kind(PyUnicode_1BYTE_KIND, text, zones, out);
    case PyUnicode_2BYTE_KIND:
        return read_layout_of_kind(PyUnicode_2BYTE_KIND, text, zones, out);
    default:
        return read_layout_of_kind(PyUnicode_4BYTE_KIND, text, zones, out);
    }
}

static PyObject *
build_record(PyObject *text, const Layout *l)
{
    /* Presized for the fourteen fields: growing a dict while filling it costs more. */
    PyObject *record = _PyDict_NewPresized(14);
    if (record == NULL) {
        return NULL;
    }
    if ((l->meme >= 0 && set_slice(record, key_lc_cell_meme, text, l->meme, l->meme_end) < 0) ||
        set_int(record, key_start_time, l->start_time) < 0 ||
        set_int(record, key_end_time, l->end_time) < 0 ||
        set_slice(record, key_status, text, l->status, l->status_end) < 0 ||
        set_slice(record, key_input, text, l->body_start, l->separator) < 0 ||
        set_slice(record, key_output, text, l->header_end, l->limit) < 0) {
        goto error;
    }
    if (l->results_end > l->results) {
        PyObject *results = PyList_New(0);
        if (results == NULL) {
            goto error;
        }
        PyObject *last = NULL;
        Py_ssize_t prefix = (Py_ssize_t)sizeof(RESULT_PREFIX) - 1;
        Text t = {PyUnicode_KIND(text), PyUnicode_DATA(text), PyUnicode_GET_LENGTH(text)};
        for (Py_ssize_t at = l->results; at < l->results_end;) {
            Py_ssize_t newline = line_end(&t, at + prefix, l->results_end);
            PyObject *value = PyUnicode_Substring(text, at + prefix, newline);
            if (value == NULL || PyList_Append(results, value) < 0) {
                Py_XDECREF(value);
                Py_DECREF(results);
                goto error;
            }
            last = value;
            Py_DECREF(value);
            at = newline + 1;
        }
        int failed = PyDict_SetItem(record, key_result, last) < 0 ||
                     PyDict_SetItem(record, key_results, results) < 0;
        Py_DECREF(results);
        if (failed) {
            goto error;
        }
    }
    if (set_int(record, key_uid, l->uid) < 0 || set_int(record, key_gid, l->gid) < 0) {
        goto error;
    }
    if ((l->notebook_meme_end > l->notebook_meme &&
         set_slice(record, key_notebook_meme, text, l->notebook_meme, l->notebook_meme_end) < 0) ||
        (l->notebook_path_end > l->notebook_path &&
         set_slice(record, key_notebook_path, text, l->notebook_path, l->notebook_path_end) < 0) ||
        (l->signature_end > l->signature &&
         set_slice(record, key_signature, text, l->signature, l->signature_end) < 0) ||
        set_slice(record, key_path, text, l->path, l->path_end) < 0) {
        goto error;
    }
    return record;
error:
    Py_DECREF(record);
    return NULL;
}

static PyObject *
parse_standard(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "parse_standard(text, zones) takes two arguments");
        return NULL;
    }
    PyObject *text = args[0], *zones = args[1];
    if (!PyUnicode_Check(text) || !PyDict_CheckExact(zones) || PyUnicode_READY(text) < 0) {
        if (PyErr_Occurred()) {
            return NULL;
        }
        Py_RETURN_NONE;
    }
    if (PyUnicode_GET_LENGTH(text) == 0) {
        Py_RETURN_NONE;
    }
    Layout layout;
    int read = read_layout(text, zones, &layout);
    if (read < 0) {
        return NULL;
    }
    if (read == 0) {
        Py_RETURN_NONE;
    }
    return build_record(text, &layout);
}

static PyMethodDef methods[] = {
    {"parse_standard", (PyCFunction)(void (*)(void))parse_standard, METH_FASTCALL,
     "The record of a log in exactly lc_wrapper's layout; None when Python must decide."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_definition = {
    PyModuleDef_HEAD_INIT, "_logscan",
    "lc_wrapper's log layout read in C: the parser's shortcut (cwh.enrich.logrecord).", -1, methods,
    NULL, NULL, NULL, NULL,
};

static int
intern(PyObject **slot, const char *value)
{
    *slot = PyUnicode_InternFromString(value);
    return *slot == NULL ? -1 : 0;
}

PyMODINIT_FUNC
PyInit__logscan(void)
{
    if (intern(&key_lc_cell_meme, "lc_cell_meme") < 0 || intern(&key_start_time, "start_time") < 0 ||
        intern(&key_end_time, "end_time") < 0 || intern(&key_status, "execute_reply_status") < 0 ||
        intern(&key_input, "input") < 0 || intern(&key_output, "output") < 0 ||
        intern(&key_result, "result") < 0 || intern(&key_results, "results") < 0 ||
        intern(&key_uid, "uid") < 0 || intern(&key_gid, "gid") < 0 ||
        intern(&key_notebook_meme, "lc_notebook_meme") < 0 ||
        intern(&key_notebook_path, "notebook_path") < 0 ||
        intern(&key_signature, "server_signature") < 0 || intern(&key_path, "path") < 0) {
        return NULL;
    }
    return PyModule_Create(&module_definition);
}
