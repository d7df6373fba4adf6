/* The sieve's reading of one inflated PBF block, in C: the protobuf fields that
 * `sieve.sift_block`, `sieve.referenced` and `sieve.hugging` read, walked once, with
 * nothing else built.
 * Any block this cannot read is left to the Python path (None), never guessed at. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <time.h>

#if defined(__GNUC__)
#define ALWAYS_INLINE inline __attribute__((always_inline)) /* called for every field */
#else
#define ALWAYS_INLINE inline
#endif

#define DATED (365LL * 86400)   /* earlier timestamps are PBF's "no date" (sieve.DATED) */
#define NANO_PER_UNIT 100       /* libosmium keeps 1e-7 degrees (sieve.NANODEGREES_PER_UNIT) */
#define STAMP_ROOM 21           /* a timestamp's text, 2019-01-01T00:00:00Z, and its end */

typedef struct {
    const uint8_t *p, *end;
} Cursor;

typedef struct {
    uint32_t number;
    int wire;
    uint64_t value;
    Cursor data; /* the payload of a length-delimited field */
} Field;

static inline int varint(Cursor *c, uint64_t *out)
{
    if (c->p < c->end && !(*c->p & 0x80)) { /* most are one byte */
        *out = *c->p++;
        return 1;
    }
    uint64_t v = 0;
    int shift = 0;
    while (c->p < c->end) {
        uint8_t b = *c->p++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = v;
            return 1;
        }
        shift += 7;
        if (shift > 63)
            return 0;
    }
    return 0;
}

static inline int64_t zigzag(uint64_t v) { return (int64_t)(v >> 1) ^ -(int64_t)(v & 1); }

/* Sums and products that wrap around as numpy's int64 do, where C would be undefined. */
static inline int64_t plus(int64_t a, int64_t b) { return (int64_t)((uint64_t)a + (uint64_t)b); }
static inline int64_t times(int64_t a, int64_t b) { return (int64_t)((uint64_t)a * (uint64_t)b); }

/* 1 and the next field in `f`, 0 at the end, -1 when the bytes break the format. */
static ALWAYS_INLINE int next_field(Cursor *c, Field *f)
{
    uint64_t tag, n;
    if (c->p >= c->end)
        return 0;
    if (!varint(c, &tag))
        return -1;
    f->number = (uint32_t)(tag >> 3);
    f->wire = (int)(tag & 7);
    switch (f->wire) {
    case 0:
        return varint(c, &f->value) ? 1 : -1;
    case 1:
        if (c->end - c->p < 8)
            return -1;
        c->p += 8;
        return 1;
    case 2:
        if (!varint(c, &n) || n > (uint64_t)(c->end - c->p))
            return -1;
        f->data.p = c->p;
        f->data.end = c->p + n;
        c->p += n;
        return 1;
    case 5:
        if (c->end - c->p < 4)
            return -1;
        c->p += 4;
        return 1;
    default:
        return -1;
    }
}

/* The next field numbered `number` of `c`, which must be length-delimited, into `out`:
 * 1, 0 at the end, -1 when the bytes break the format. */
static int next_message(Cursor *c, uint32_t number, Cursor *out)
{
    Field f;
    int r;
    while ((r = next_field(c, &f)) == 1)
        if (f.number == number) {
            if (f.wire != 2)
                return -1;
            *out = f.data;
            return 1;
        }
    return r;
}

/* Room for one more item of `size` bytes in the array `*items` holding `count` items in
 * `*capacity`: 0 when memory runs out (the array is left as it was). */
static int room(void *items, Py_ssize_t count, Py_ssize_t *capacity, size_t size)
{
    void **array = items;
    if (count < *capacity)
        return 1;
    Py_ssize_t more = *capacity ? 2 * *capacity : 64;
    void *grown = realloc(*array, more * size);
    if (!grown)
        return 0;
    *array = grown;
    *capacity = more;
    return 1;
}

/* The strings of a block's table, with which of them are the wanted texts. */
typedef struct {
    Py_ssize_t count;
    const uint8_t **text;
    uint32_t *length;
    uint8_t *role; /* bits: CAMERA_KEY, CAMERA_VALUE, BOUNDARY_KEY, BOUNDARY_VALUE */
    PyObject **decoded;
} Strings;

enum { CAMERA_KEY = 1, CAMERA_VALUE = 2, BOUNDARY_KEY = 4, BOUNDARY_VALUE = 8, TYPE_KEY = 16,
       MULTIPOLYGON_VALUE = 32 };

typedef struct {
    const char *text;
    Py_ssize_t length;
    uint8_t role;
} Wanted;

static void strings_free(Strings *s)
{
    if (s->decoded)
        for (Py_ssize_t i = 0; i < s->count; i++)
            Py_XDECREF(s->decoded[i]);
    free(s->text);
    free(s->length);
    free(s->role);
    free(s->decoded);
    memset(s, 0, sizeof *s);
}

/* 1 when the table reads, 0 when not (or when entry 0 is not the empty string). */
static int strings_read(Cursor table, const Wanted *wanted, int wanted_count, Strings *s)
{
    Cursor c = table, entry = {NULL, NULL};
    int r;
    Py_ssize_t texts = 0, lengths = 0; /* the capacities of the two arrays */
    memset(s, 0, sizeof *s);
    while ((r = next_message(&c, 1, &entry)) == 1) {
        if (!room(&s->text, s->count, &texts, sizeof *s->text)
            || !room(&s->length, s->count, &lengths, sizeof *s->length)) {
            strings_free(s);
            return 0;
        }
        Py_ssize_t i = s->count++;
        s->text[i] = entry.p;
        s->length[i] = (uint32_t)(entry.end - entry.p);
    }
    s->role = calloc(s->count ? s->count : 1, 1);
    s->decoded = calloc(s->count ? s->count : 1, sizeof *s->decoded);
    if (r < 0 || !s->count || !s->role || !s->decoded) {
        strings_free(s);
        return 0;
    }
    for (Py_ssize_t i = 0; i < s->count; i++)
        for (int w = 0; w < wanted_count; w++)
            if (s->length[i] == (uint32_t)wanted[w].length
                && memcmp(s->text[i], wanted[w].text, wanted[w].length) == 0)
                s->role[i] |= wanted[w].role;
    return s->length[0] == 0;
}

/* The text of string `i`, decoded once per block (a borrowed reference), or NULL. */
static PyObject *string_at(Strings *s, uint64_t i)
{
    if (i >= (uint64_t)s->count)
        return NULL;
    if (!s->decoded[i])
        s->decoded[i] = PyUnicode_DecodeUTF8((const char *)s->text[i], s->length[i], "replace");
    return s->decoded[i];
}

/* Whether an object (Node, Way or Relation message) carries a wanted pair: 1 yes, 0 no,
 * -1 unreadable (keys and values apart, or not packed, or a string index past the table,
 * which libosmium refuses). `pairs` holds (key, value) roles. */
static int carries(Cursor object, const Strings *s, const uint8_t (*pairs)[2], int pair_count)
{
    Cursor keys = {NULL, NULL}, vals = {NULL, NULL};
    Field f;
    int r;
    while ((r = next_field(&object, &f)) == 1) {
        if (f.number == 2 || f.number == 3) {
            if (f.wire != 2 || (f.number == 2 ? keys.p : vals.p))
                return -1;
            if (f.number == 2)
                keys = f.data;
            else
                vals = f.data;
        }
    }
    if (r < 0)
        return -1;
    if (!keys.p && !vals.p)
        return 0;
    if (!keys.p || !vals.p)
        return -1;
    int found = 0;
    uint64_t k, v;
    while (keys.p < keys.end) {
        if (vals.p >= vals.end || !varint(&keys, &k) || !varint(&vals, &v)
            || (k > v ? k : v) >= (uint64_t)s->count) /* the one check of both indices */
            return -1;
        for (int i = 0; i < pair_count; i++)
            if ((s->role[k] & pairs[i][0]) && (s->role[v] & pairs[i][1]))
                found = 1;
    }
    return vals.p < vals.end ? -1 : found;
}

typedef struct {
    int64_t granularity, date_granularity, lat_offset, lon_offset;
} Settings;

typedef struct {
    int found;
    int64_t before, after; /* the first pair of node ids that do not increase */
} Unsorted;

/* The running sums of a packed sint64 field at the sorted `positions` (`count` of them),
 * into `out`: how many values were walked (all of them with `whole`, else up to the last
 * position), or -1 when the field breaks the format. With `unsorted`, the first pair of
 * sums that does not increase goes there, and the walk stops. */
static Py_ssize_t running_sums(Cursor c, const Py_ssize_t *positions, Py_ssize_t count, int64_t *out,
                               int whole, Unsorted *unsorted)
{
    Py_ssize_t n = 0, next = 0;
    int64_t sum = 0, before = 0;
    uint64_t v;
    while (c.p < c.end && (whole || next < count)) {
        if (!varint(&c, &v))
            return -1;
        sum = plus(sum, zigzag(v));
        if (unsorted && n && sum <= before) {
            *unsorted = (Unsorted){1, before, sum};
            return n + 1;
        }
        before = sum;
        if (next < count && positions[next] == n)
            out[next++] = sum;
        n++;
    }
    return n;
}

/* The ISO 8601 UTC text of a timestamp in seconds written at `out`, nothing for the
 * epoch (no date) and from the year 10000; where the text ends. */
static char *stamp_text(int64_t seconds, char *out)
{
    struct tm tm;
    time_t t = (time_t)seconds;
    if (seconds < DATED || !gmtime_r(&t, &tm) || tm.tm_year + 1900 > 9999)
        return out;
    return out + strftime(out, STAMP_ROOM, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static double degrees(int64_t raw, int64_t granularity, int64_t offset)
{
    int64_t nano = plus(times(raw, granularity), offset);
    if (nano == INT64_MIN)
        return -HUGE_VAL; /* no location, as for numpy */
    int64_t sign = (nano > 0) - (nano < 0);
    return (double)(sign * ((nano < 0 ? -nano : nano) / NANO_PER_UNIT)) / 1e7;
}

typedef enum { READ, LEFT, FAILED, UNSORTED } Outcome;
/* LEFT: to the Python path; FAILED: an exception is set; UNSORTED: node ids do not increase */

/* The tags of a dense node, from its first key in keys_vals, as a dict. */
static PyObject *dense_tags(Cursor kv, Strings *s)
{
    PyObject *tags = PyDict_New();
    uint64_t k, v;
    if (!tags)
        return NULL;
    while (varint(&kv, &k) && k && varint(&kv, &v)) {
        PyObject *key = string_at(s, k), *value = string_at(s, v);
        if (!key || !value || PyDict_SetItem(tags, key, value) < 0) {
            Py_DECREF(tags);
            return NULL;
        }
    }
    return tags;
}

/* The packed columns of a DenseNodes message. */
typedef struct {
    Cursor ids, lats, lons, kv, stamps, visible;
} Dense;

static int dense_read(Cursor dense, Dense *d)
{
    Field f;
    int r;
    memset(d, 0, sizeof *d);
    while ((r = next_field(&dense, &f)) == 1) {
        Cursor *at = f.number == 1 ? &d->ids : f.number == 8 ? &d->lats : f.number == 9 ? &d->lons
                   : f.number == 10 ? &d->kv : NULL;
        if (f.number == 5 && f.wire == 2) {
            Cursor info = f.data;
            Field g;
            int q;
            while ((q = next_field(&info, &g)) == 1) {
                Cursor *in = g.number == 2 ? &d->stamps : g.number == 6 ? &d->visible : NULL;
                if (in) {
                    if (g.wire != 2 || in->p)
                        return 0;
                    *in = g.data;
                }
            }
            if (q < 0)
                return 0;
        } else if (at) {
            if (f.wire != 2 || at->p)
                return 0;
            *at = f.data;
        }
    }
    return r == 0;
}

/* The positions of the nodes that carry the camera tag, and where their tags start. */
typedef struct {
    Py_ssize_t count, nodes_capacity, starts_capacity;
    Py_ssize_t *nodes;
    const uint8_t **starts;
} Tagged;

static void tagged_free(Tagged *t)
{
    free(t->nodes);
    free(t->starts);
}

/* Each node's tags end with a 0; a node is taken when its tags end. LEFT for a string index
 * past the table, which libosmium refuses ("string id out of range"), for a column whose
 * last node's tags are unended, which libosmium reads as that node's, and for a value 0,
 * which libosmium reads as the empty string, not as the node's end. */
static Outcome tagged_read(Cursor kv, const Strings *s, Tagged *t)
{
    Py_ssize_t node = 0;
    const uint8_t *start = kv.p;
    int camera = 0, is_value = 0;
    uint64_t key = 0, x;
    memset(t, 0, sizeof *t);
    while (kv.p && kv.p < kv.end) {
        if (!varint(&kv, &x))
            return LEFT;
        if (x == 0) {
            if (is_value)
                return LEFT;
            if (camera) {
                if (!room(&t->nodes, t->count, &t->nodes_capacity, sizeof *t->nodes)
                    || !room(&t->starts, t->count, &t->starts_capacity, sizeof *t->starts)) {
                    PyErr_NoMemory();
                    return FAILED;
                }
                t->nodes[t->count] = node;
                t->starts[t->count++] = start;
            }
            node++;
            start = kv.p;
            camera = is_value = 0;
        } else if (!is_value) {
            key = x;
            is_value = 1;
        } else {
            if ((key > x ? key : x) >= (uint64_t)s->count) /* the one check of both indices */
                return LEFT;
            if ((s->role[key] & CAMERA_KEY) && (s->role[x] & CAMERA_VALUE))
                camera = 1;
            is_value = 0;
        }
    }
    return kv.p == start ? READ : LEFT;
}

/* Timestamps as PBF keeps them, in seconds, as numpy's floor division gives them. */
static int64_t seconds_of(int64_t stamp, int64_t date_granularity)
{
    int64_t ms = times(stamp, date_granularity), q = ms / 1000;
    return (ms % 1000 != 0 && ms < 0) ? q - 1 : q;
}

/* A hash of the string indices of a dense node's tags, from its first key to its end. */
static uint64_t run_hash(const uint8_t *p, const uint8_t *end)
{
    Cursor c = {p, end};
    uint64_t h = 14695981039346656037ULL, x;
    while (varint(&c, &x) && x)
        h = (h ^ x) * 1099511628211ULL;
    return h;
}

/* Whether two dense nodes' tags, from their first keys, hold the same string indices. */
static int same_run(const uint8_t *a, const uint8_t *b, const uint8_t *end)
{
    Cursor c = {a, end}, d = {b, end};
    uint64_t x, y;
    for (;;) {
        int p = varint(&c, &x), q = varint(&d, &y);
        if (!p || !q || x != y)
            return !p && !q;
        if (!x)
            return 1;
    }
}

/* A column of `count` values of `size` bytes as a bytearray, which numpy reads writable. */
static PyObject *column(const void *values, Py_ssize_t count, Py_ssize_t size)
{
    return PyByteArray_FromStringAndSize((const char *)values, count * size);
}

/* The camera nodes of one DenseNodes message, appended to `found` as columns when there
 * are any (ids, lon, lat, stamps, sets, tags): see sieve.NodeCameras. Nodes whose tags
 * hold the same string indices share one set of tags, made once. */
static Outcome dense_cameras(Cursor dense, Strings *s, const Settings *set, PyObject *found,
                             Unsorted *unsorted)
{
    Dense d;
    Tagged t;
    if (!dense_read(dense, &d))
        return LEFT;
    Outcome outcome = tagged_read(d.kv, s, &t);
    Py_ssize_t count = t.count, kept = 0, distinct = 0, slots = 16;
    int64_t *values = NULL;
    double *coords = NULL;
    char *stamps = NULL, *stamp;
    int32_t *sets = NULL, *table = NULL;
    const uint8_t **firsts = NULL;
    PyObject *tags = NULL, *item = NULL;
    if (outcome != READ || !count)
        goto done;
    while (slots < 2 * count)
        slots *= 2;
    values = malloc(4 * count * sizeof *values);
    stamp = stamps = malloc(count * (STAMP_ROOM + 1));
    coords = malloc(2 * count * sizeof *coords);
    sets = malloc(count * sizeof *sets);
    firsts = malloc(count * sizeof *firsts);
    table = malloc(slots * sizeof *table);
    tags = PyList_New(0);
    if (!values || !stamps || !coords || !sets || !firsts || !table || !tags) {
        if (!PyErr_Occurred())
            PyErr_NoMemory();
        outcome = FAILED;
        goto done;
    }
    memset(table, 0xff, slots * sizeof *table); /* -1: an empty slot */
    int64_t *id = values, *lat = values + count, *lon = values + 2 * count, *when = values + 3 * count;
    Py_ssize_t walked = running_sums(d.ids, t.nodes, count, id, 1, unsorted);
    Py_ssize_t last = t.nodes[count - 1];
    if (walked < 0)
        outcome = LEFT;
    else if (unsorted->found)
        outcome = UNSORTED;
    else if (walked <= last || running_sums(d.lats, t.nodes, count, lat, 0, NULL) <= last
             || running_sums(d.lons, t.nodes, count, lon, 0, NULL) <= last
             || (d.stamps.p && running_sums(d.stamps, t.nodes, count, when, 0, NULL) <= last))
        outcome = LEFT;
    for (Py_ssize_t i = 0; i < count && outcome == READ; i++) {
        double x = degrees(lon[i], set->granularity, set->lon_offset);
        double y = degrees(lat[i], set->granularity, set->lat_offset);
        if (x > 180 || x < -180 || y > 90 || y < -90)
            continue; /* libosmium gives such a node no geometry */
        const uint8_t *run = t.starts[i];
        Py_ssize_t slot = (Py_ssize_t)(run_hash(run, d.kv.end) & (uint64_t)(slots - 1));
        while (table[slot] >= 0 && !same_run(firsts[table[slot]], run, d.kv.end))
            slot = (slot + 1) & (slots - 1);
        if (table[slot] < 0) {
            PyObject *made = dense_tags((Cursor){run, d.kv.end}, s);
            if (!made || PyList_Append(tags, made) < 0) {
                Py_XDECREF(made);
                outcome = PyErr_Occurred() ? FAILED : LEFT;
                break;
            }
            Py_DECREF(made);
            firsts[distinct] = run;
            table[slot] = (int32_t)distinct++;
        }
        id[kept] = id[i];
        coords[kept] = x;
        coords[count + kept] = y;
        if (kept)
            *stamp++ = ',';
        stamp = stamp_text(d.stamps.p ? seconds_of(when[i], set->date_granularity) : 0, stamp);
        sets[kept++] = table[slot];
    }
    if (outcome == READ && kept) {
        item = Py_BuildValue("(NNNs#NO)", column(id, kept, 8), column(coords, kept, 8),
                             column(coords + count, kept, 8), stamps, (Py_ssize_t)(stamp - stamps),
                             column(sets, kept, 4), tags);
        if (!item || PyList_Append(found, item) < 0)
            outcome = FAILED;
    }
done:
    Py_XDECREF(item);
    Py_XDECREF(tags);
    free(values);
    free(stamps);
    free(coords);
    free(sets);
    free(firsts);
    free(table);
    tagged_free(&t);
    return outcome;
}

/* The tags of a dense node, from its first key in keys_vals, as a tuple of pairs. */
static PyObject *dense_tag_pairs(Cursor kv, Strings *s)
{
    PyObject *pairs = PyList_New(0), *result = NULL;
    uint64_t k, v;
    if (!pairs)
        return NULL;
    while (varint(&kv, &k) && k && varint(&kv, &v)) {
        PyObject *key = string_at(s, k), *value = string_at(s, v), *pair;
        if (!key || !value || !(pair = PyTuple_Pack(2, key, value)))
            goto out;
        int failed = PyList_Append(pairs, pair) < 0;
        Py_DECREF(pair);
        if (failed)
            goto out;
    }
    result = PyList_AsTuple(pairs);
out:
    Py_DECREF(pairs);
    return result;
}

/* Every version of the nodes of one DenseNodes message of a history block that carry the
 * camera tag in some version, and of its first and last node, appended to `found` as
 * columns (ids, seconds, visible, carries, lon, lat, tags): see sieve.NodeVersions. */
static Outcome dense_versions(Cursor dense, Strings *s, const Settings *set, int with_tags,
                              PyObject *found)
{
    Dense d;
    Tagged t;
    if (!dense_read(dense, &d))
        return LEFT;
    Outcome outcome = tagged_read(d.kv, s, &t);
    Py_ssize_t n = 0, m = 0;
    int64_t *id = NULL, *chosen_values = NULL;
    Py_ssize_t *chosen = NULL;
    uint8_t *flags = NULL;
    double *coords = NULL;
    PyObject *tags = NULL, *item = NULL;
    if (outcome != READ)
        goto done;
    for (Cursor c = d.ids; c.p < c.end; c.p++)
        n += !(*c.p & 0x80);
    id = malloc((n + 1) * sizeof *id);
    chosen = malloc((n + 1) * sizeof *chosen);
    if (!id || !chosen) {
        PyErr_NoMemory();
        outcome = FAILED;
        goto done;
    }
    {
        int64_t sum = 0;
        uint64_t v;
        Cursor c = d.ids;
        for (Py_ssize_t i = 0; i < n; i++) {
            if (!varint(&c, &v)) {
                outcome = LEFT;
                goto done;
            }
            id[i] = sum = plus(sum, zigzag(v));
            if (i && id[i] < id[i - 1]) { /* versions of a node follow one another */
                outcome = LEFT;
                goto done;
            }
        }
        if (t.count && t.nodes[t.count - 1] >= n) {
            outcome = LEFT;
            goto done;
        }
    }
    /* The versions whose id is that of a tagged version, or of the first or last node. */
    for (Py_ssize_t i = 0, j = 0; i < n; i++) {
        while (j < t.count && id[t.nodes[j]] < id[i])
            j++;
        if (id[i] == id[0] || id[i] == id[n - 1] || (j < t.count && id[t.nodes[j]] == id[i]))
            chosen[m++] = i;
    }
    chosen_values = malloc((4 * m + 1) * sizeof *chosen_values);
    flags = malloc(2 * m + 1);
    coords = malloc((2 * m + 1) * sizeof *coords);
    if (!chosen_values || !flags || !coords) {
        PyErr_NoMemory();
        outcome = FAILED;
        goto done;
    }
    int64_t *lat = chosen_values, *lon = chosen_values + m, *when = chosen_values + 2 * m;
    int64_t *ids = chosen_values + 3 * m;
    uint8_t *visible = flags, *carries = flags + m;
    Py_ssize_t last = m ? chosen[m - 1] : -1;
    if (m && (running_sums(d.lats, chosen, m, lat, 0, NULL) <= last
              || running_sums(d.lons, chosen, m, lon, 0, NULL) <= last
              || (d.stamps.p && running_sums(d.stamps, chosen, m, when, 0, NULL) <= last))) {
        outcome = LEFT;
        goto done;
    }
    memset(visible, 1, m);
    if (d.visible.p && d.visible.p < d.visible.end) { /* plain values, not running sums */
        Cursor c = d.visible;
        uint64_t v;
        for (Py_ssize_t i = 0, k = 0; k < m; i++) {
            if (!varint(&c, &v)) {
                outcome = LEFT;
                goto done;
            }
            if (chosen[k] == i)
                visible[k++] = v != 0;
        }
    }
    if (with_tags && !(tags = PyList_New(0))) {
        outcome = FAILED;
        goto done;
    }
    for (Py_ssize_t k = 0, j = 0; k < m; k++) {
        while (j < t.count && t.nodes[j] < chosen[k])
            j++;
        carries[k] = j < t.count && t.nodes[j] == chosen[k];
        double x = degrees(lon[k], set->granularity, set->lon_offset);
        double y = degrees(lat[k], set->granularity, set->lat_offset);
        if (!visible[k] || x > 180 || x < -180 || y > 90 || y < -90)
            x = y = Py_NAN;
        coords[k] = x;
        coords[m + k] = y;
        ids[k] = id[chosen[k]];
        when[k] = d.stamps.p ? seconds_of(when[k], set->date_granularity) : 0;
        if (tags) {
            Cursor run = {carries[k] ? t.starts[j] : NULL, d.kv.end};
            PyObject *pairs = carries[k] ? dense_tag_pairs(run, s) : PyTuple_New(0);
            if (!pairs || PyList_Append(tags, pairs) < 0) {
                Py_XDECREF(pairs);
                outcome = PyErr_Occurred() ? FAILED : LEFT;
                goto done;
            }
            Py_DECREF(pairs);
        }
    }
    item = Py_BuildValue("(NNNNNNO)", column(ids, m, 8), column(when, m, 8),
                         column(visible, m, 1), column(carries, m, 1), column(coords, m, 8),
                         column(coords + m, m, 8), tags ? tags : Py_None);
    if (!item || PyList_Append(found, item) < 0)
        outcome = FAILED;
done:
    Py_XDECREF(item);
    Py_XDECREF(tags);
    free(id);
    free(chosen);
    free(chosen_values);
    free(flags);
    free(coords);
    tagged_free(&t);
    return outcome;
}

/* The top-level fields of a PrimitiveBlock: its string table, settings and groups. */
typedef struct {
    Cursor table;
    Settings set;
    Cursor body;
} Block;

static int block_read(const uint8_t *data, Py_ssize_t size, Block *b)
{
    Cursor c = {data, data + size};
    Field f;
    int r;
    memset(b, 0, sizeof *b);
    b->set.granularity = 100;
    b->set.date_granularity = 1000;
    b->body = c;
    while ((r = next_field(&c, &f)) == 1) {
        if (f.number == 1) {
            if (f.wire != 2 || b->table.p)
                return 0;
            b->table = f.data;
        } else if (f.number >= 17 && f.number <= 20) {
            if (f.wire != 0)
                return 0;
            int64_t v = (int64_t)f.value;
            if (f.number == 17)
                b->set.granularity = (int32_t)v;
            else if (f.number == 18)
                b->set.date_granularity = (int32_t)v;
            else if (f.number == 19)
                b->set.lat_offset = v;
            else
                b->set.lon_offset = v;
        }
    }
    return r == 0;
}

static int wanted_pair(PyObject *pair, Wanted *key, Wanted *value, uint8_t key_role, uint8_t value_role)
{
    PyObject *k, *v;
    if (!PyArg_ParseTuple(pair, "SS", &k, &v))
        return 0;
    *key = (Wanted){PyBytes_AS_STRING(k), PyBytes_GET_SIZE(k), key_role};
    *value = (Wanted){PyBytes_AS_STRING(v), PyBytes_GET_SIZE(v), value_role};
    return 1;
}

PyDoc_STRVAR(sift_doc,
"sift(data, camera, boundary, history=False, tags=False) -> list | tuple | None\n\n"
"The camera nodes of the dense groups of an inflated block, as columns for each group that\n"
"holds any (ids, lon, lat, stamps, sets, tags: see sieve.NodeCameras);\n"
"None when the block holds a node, way or relation with the `camera` (key, value) pair, or\n"
"a relation with the `boundary` pair (None: not wanted), or cannot be read here; the pair\n"
"of ids (before, after) where node ids do not increase. With `history`, the node versions\n"
"of each dense group instead, as columns (ids, seconds, visible, carries, lon, lat, and\n"
"with `tags` the tags of those that carry the camera pair, else None).");

static PyObject *sift(PyObject *self, PyObject *args)
{
    Py_buffer data;
    PyObject *camera, *boundary, *found = NULL;
    Wanted wanted[4];
    int wanted_count = 2, history = 0, with_tags = 0;
    if (!PyArg_ParseTuple(args, "y*O!O|pp", &data, &PyTuple_Type, &camera, &boundary, &history,
                          &with_tags))
        return NULL;
    Strings s = {0};
    Block b;
    Unsorted unsorted = {0, 0, 0};
    if (!wanted_pair(camera, &wanted[0], &wanted[1], CAMERA_KEY, CAMERA_VALUE)
        || (boundary != Py_None
            && !(wanted_count = 4, wanted_pair(boundary, &wanted[2], &wanted[3], BOUNDARY_KEY,
                                               BOUNDARY_VALUE))))
        goto fail;
    const uint8_t pairs[2][2] = {{CAMERA_KEY, CAMERA_VALUE}, {BOUNDARY_KEY, BOUNDARY_VALUE}};
    if (!block_read(data.buf, data.len, &b) || !b.table.p || !strings_read(b.table, wanted, wanted_count, &s))
        goto left;
    found = PyList_New(0);
    if (!found)
        goto fail;
    Cursor body = b.body, group;
    int r;
    while ((r = next_message(&body, 2, &group)) == 1) {
        Cursor dense = {NULL, NULL};
        Field g;
        int q;
        while ((q = next_field(&group, &g)) == 1) {
            if (g.number < 1 || g.number > 4)
                continue;
            if (g.wire != 2)
                goto left;
            if (g.number == 2) {
                if (dense.p)
                    goto left;
                dense = g.data;
                continue;
            }
            int hit = carries(g.data, &s, pairs, g.number == 4 ? wanted_count / 2 : 1);
            if (hit != 0)
                goto left;
        }
        if (q < 0)
            goto left;
        if (dense.p) {
            Outcome outcome = history ? dense_versions(dense, &s, &b.set, with_tags, found)
                                      : dense_cameras(dense, &s, &b.set, found, &unsorted);
            if (outcome == FAILED)
                goto fail;
            if (outcome == LEFT)
                goto left;
            if (outcome == UNSORTED) {
                Py_DECREF(found);
                found = Py_BuildValue("(LL)", (long long)unsorted.before, (long long)unsorted.after);
                goto out;
            }
        }
    }
    if (r < 0)
        goto left;
    goto out;
left:
    Py_XDECREF(found);
    found = Py_NewRef(Py_None);
    goto out;
fail:
    Py_CLEAR(found);
out:
    strings_free(&s);
    PyBuffer_Release(&data);
    return found;
}

/* Sorted node ids sought among refs. Most refs are not among them: the bit `ref >> shift` of
 * `bits`, set for each id of at least 0, turns them away. */
typedef struct {
    const uint8_t *bits;
    uint64_t bit_count;
    int shift;
    const int64_t *ids;
    Py_ssize_t count;
} Candidates;

/* The position of `ref` among the sorted `ids` of `c`, -1 when it is not there. */
static Py_ssize_t position(const Candidates *c, int64_t ref)
{
    if (ref >= 0) {
        uint64_t b = (uint64_t)ref >> c->shift;
        if (b >= c->bit_count || !(c->bits[b / 8] >> (b % 8) & 1))
            return -1;
    }
    Py_ssize_t lo = 0, hi = c->count;
    while (lo < hi) {
        Py_ssize_t mid = (lo + hi) / 2;
        if (c->ids[mid] < ref)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < c->count && c->ids[lo] == ref ? lo : -1;
}

PyDoc_STRVAR(referenced_doc,
"referenced(data, bits, shift, ids) -> bytes | None\n\n"
"Which of the sorted node ids `ids` (int64) the ways of an inflated block refer to, as\n"
"int64 bytes, in the order met; `bits`: a bitmap with the bit `id >> shift` set for each\n"
"id of at least 0. None when the block cannot be read here.");

/* Adds to `hits` (`count` of `capacity`) the candidates among the delta-coded node ids
 * `refs` of one way: 1, 0 when they break the format, -1 when memory runs out. */
static int note_refs(const Candidates *c, Cursor refs, int64_t **hits, Py_ssize_t *count, Py_ssize_t *capacity)
{
    int64_t ref = 0;
    uint64_t v;
    while (refs.p < refs.end) {
        if (!varint(&refs, &v))
            return 0;
        ref = plus(ref, zigzag(v));
        if (position(c, ref) < 0)
            continue;
        if (!room(hits, *count, capacity, sizeof **hits))
            return -1;
        (*hits)[(*count)++] = ref;
    }
    return 1;
}

static PyObject *referenced(PyObject *self, PyObject *args)
{
    Py_buffer data, bits, ids;
    int shift;
    PyObject *result = NULL;
    if (!PyArg_ParseTuple(args, "y*y*iy*", &data, &bits, &shift, &ids))
        return NULL;
    Candidates c = {bits.buf, (uint64_t)bits.len * 8, shift, ids.buf, ids.len / 8};
    int64_t *hits = NULL;
    Py_ssize_t count = 0, capacity = 0;
    Block b;
    if (shift < 0 || shift > 63) {
        PyErr_SetString(PyExc_ValueError, "shift must be 0 to 63");
        goto out;
    }
    if (c.count == 0) {
        result = PyBytes_FromStringAndSize(NULL, 0);
        goto out;
    }
    if (!block_read(data.buf, data.len, &b))
        goto left;
    Cursor body = b.body, group, way, refs;
    int r, q, t;
    while ((r = next_message(&body, 2, &group)) == 1) {
        while ((q = next_message(&group, 3, &way)) == 1) {
            while ((t = next_message(&way, 8, &refs)) == 1) {
                int noted = note_refs(&c, refs, &hits, &count, &capacity);
                if (noted < 0) {
                    PyErr_NoMemory();
                    goto out;
                }
                if (!noted)
                    goto left;
            }
            if (t < 0)
                goto left;
        }
        if (q < 0)
            goto left;
    }
    if (r < 0)
        goto left;
    result = PyBytes_FromStringAndSize((const char *)hits, count * (Py_ssize_t)sizeof *hits);
    goto out;
left:
    result = Py_NewRef(Py_None);
out:
    free(hits);
    PyBuffer_Release(&data);
    PyBuffer_Release(&bits);
    PyBuffer_Release(&ids);
    return result;
}

PyDoc_STRVAR(hugging_doc,
"hugging(data, bits, shift, ids, x, y, reach) -> (bytes, bytes, bytes) | None\n\n"
"The ways of an inflated block whose nodes are all among the sorted node ids `ids`\n"
"(int64; `bits` as for `referenced`) and span at most `reach` across the box of their\n"
"places (`x`, `y`: float64, in a plane, one for each id): the positions in `ids` of\n"
"their nodes, and for each the way's id, as int64 bytes; and the ids of the ways that\n"
"its multipolygon relations have as members. None when the block cannot be read here.");

/* The positions in `c` of the refs of one way, into `*found` (`*capacity`), when all are
 * there and their box spans at most `reach`: their count, 0 when not, -1 when the bytes
 * break the format, -2 when memory runs out. */
static Py_ssize_t way_hugs(const Candidates *c, const double *x, const double *y, double reach,
                           Cursor refs, int64_t **found, Py_ssize_t *capacity)
{
    int64_t ref = 0;
    uint64_t v;
    Py_ssize_t count = 0;
    double west = INFINITY, east = -INFINITY, south = INFINITY, north = -INFINITY;
    while (refs.p < refs.end) {
        if (!varint(&refs, &v))
            return -1;
        ref = plus(ref, zigzag(v));
        Py_ssize_t at = position(c, ref);
        if (at < 0)
            return 0; /* a node not sampled: how far the way reaches is unknown */
        west = x[at] < west ? x[at] : west;
        east = x[at] > east ? x[at] : east;
        south = y[at] < south ? y[at] : south;
        north = y[at] > north ? y[at] : north;
        if ((east - west) * (east - west) + (north - south) * (north - south) > reach * reach)
            return 0;
        if (!room(found, count, capacity, sizeof **found))
            return -2;
        (*found)[count++] = at;
    }
    return count;
}

/* The way ids among the members of one relation (fields 9, delta-coded ids, and 10,
 * their types: 1 for a way) into `*members`, when it is a multipolygon (`s`: the block's
 * strings): 1, 0 when the bytes break the format, -1 when memory runs out. */
static int note_members(Cursor relation, const Strings *s, int64_t **members, Py_ssize_t *count,
                        Py_ssize_t *capacity)
{
    static const uint8_t pair[1][2] = {{TYPE_KEY, MULTIPOLYGON_VALUE}};
    Cursor ids = {NULL, NULL}, types = {NULL, NULL};
    Field f = {0};
    int r, multipolygon = carries(relation, s, pair, 1);
    if (multipolygon <= 0)
        return multipolygon + 1;
    while ((r = next_field(&relation, &f)) == 1) {
        if (f.number == 9 && f.wire == 2)
            ids = f.data;
        else if (f.number == 10 && f.wire == 2)
            types = f.data;
    }
    if (r < 0)
        return 0;
    int64_t id = 0;
    uint64_t v, type;
    while (ids.p < ids.end) {
        if (!varint(&ids, &v) || !varint(&types, &type))
            return 0;
        id = plus(id, zigzag(v));
        if (type != 1)
            continue;
        if (!room(members, *count, capacity, sizeof **members))
            return -1;
        (*members)[(*count)++] = id;
    }
    return 1;
}

static PyObject *hugging(PyObject *self, PyObject *args)
{
    Py_buffer data, bits, ids, xs, ys;
    int shift;
    double reach;
    PyObject *result = NULL;
    if (!PyArg_ParseTuple(args, "y*y*iy*y*y*d", &data, &bits, &shift, &ids, &xs, &ys, &reach))
        return NULL;
    Candidates c = {bits.buf, (uint64_t)bits.len * 8, shift, ids.buf, ids.len / 8};
    const double *x = xs.buf, *y = ys.buf;
    int64_t *nodes = NULL, *ways = NULL, *members = NULL, *found = NULL;
    Py_ssize_t count = 0, capacity = 0, way_capacity = 0, member_count = 0, member_capacity = 0,
               found_capacity = 0;
    Block b;
    Strings s = {0};
    const Wanted multipolygon[2] = {{"type", 4, TYPE_KEY}, {"multipolygon", 12, MULTIPOLYGON_VALUE}};
    if (shift < 0 || shift > 63) {
        PyErr_SetString(PyExc_ValueError, "shift must be 0 to 63");
        goto out;
    }
    if (xs.len != ids.len || ys.len != ids.len) {
        PyErr_SetString(PyExc_ValueError, "x and y must hold one float64 for each id");
        goto out;
    }
    if (!block_read(data.buf, data.len, &b))
        goto left;
    Cursor body = b.body, group;
    Field f = {0};
    int r, q;
    while ((r = next_message(&body, 2, &group)) == 1) {
        while ((q = next_field(&group, &f)) == 1) {
            if (f.wire != 2 || (f.number != 3 && f.number != 4))
                continue;
            if (f.number == 4) {
                if (!s.count && (!b.table.p || !strings_read(b.table, multipolygon, 2, &s)))
                    goto left;
                int noted = note_members(f.data, &s, &members, &member_count, &member_capacity);
                if (noted < 0)
                    goto memory;
                if (!noted)
                    goto left;
                continue;
            }
            Cursor way = f.data, refs = {NULL, NULL};
            Field g = {0};
            int64_t id = 0;
            int t;
            while ((t = next_field(&way, &g)) == 1) {
                if (g.number == 1 && g.wire == 0)
                    id = (int64_t)g.value;
                else if (g.number == 8 && g.wire == 2)
                    refs = g.data;
            }
            if (t < 0)
                goto left;
            if (!refs.p)
                continue;
            Py_ssize_t n = way_hugs(&c, x, y, reach, refs, &found, &found_capacity);
            if (n == -1)
                goto left;
            if (n == -2)
                goto memory;
            for (Py_ssize_t i = 0; i < n; i++) {
                if (!room(&nodes, count, &capacity, sizeof *nodes) ||
                    !room(&ways, count, &way_capacity, sizeof *ways))
                    goto memory;
                nodes[count] = found[i];
                ways[count++] = id;
            }
        }
        if (q < 0)
            goto left;
    }
    if (r < 0)
        goto left;
    static const char none[1]; /* y# of NULL is None: empty bytes are wanted */
    result = Py_BuildValue("(y#y#y#)", nodes ? (const char *)nodes : none, count * (Py_ssize_t)sizeof *nodes,
                           ways ? (const char *)ways : none, count * (Py_ssize_t)sizeof *ways,
                           members ? (const char *)members : none,
                           member_count * (Py_ssize_t)sizeof *members);
    goto out;
memory:
    PyErr_NoMemory();
    goto out;
left:
    result = Py_NewRef(Py_None);
out:
    free(nodes);
    free(ways);
    free(members);
    free(found);
    strings_free(&s);
    PyBuffer_Release(&data);
    PyBuffer_Release(&bits);
    PyBuffer_Release(&ids);
    PyBuffer_Release(&xs);
    PyBuffer_Release(&ys);
    return result;
}

static PyMethodDef methods[] = {
    {"sift", sift, METH_VARARGS, sift_doc},
    {"referenced", referenced, METH_VARARGS, referenced_doc},
    {"hugging", hugging, METH_VARARGS, hugging_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "native",
    "The sieve's block reader in C (see sieve.py), with the Python path as its reference.",
    -1, methods,
};

PyMODINIT_FUNC PyInit_native(void) { return PyModule_Create(&module); }
