/* The bulk engine's one-pass kernel: steps 1-13 of ``socialcredit.evaluation`` for every
 * subject of a chunk of records sorted by subject.
 *
 * Why it exists: the SQL pipeline follows each subject's records in order with DuckDB
 * windows, and one such window over ten million records already costs more than the bare
 * join + filter + group-by the issue measures against. A file sorted by subject needs no
 * window: each subject's records are adjacent, and this kernel settles them in one pass, in
 * the cache, exactly as ``evaluation.py`` does (that module doc is the algorithm; the step
 * numbers below are its). It computes results only (score, grade, list mask, reason codes);
 * contributions and their explanations stay with the other two executions.
 *
 * Plain C over plain arrays: no Python API, so the caller (``bulk.kernel``, through ctypes)
 * releases the GIL while it runs and a reader thread decodes the next chunk meanwhile. The
 * rulebook arrives as tables built by ``bulk.kernel.KernelRules`` from the ``Rulebook``
 * model: nothing here names a record type, grade or list.
 *
 * A subject the kernel does not settle itself (a type with a score condition, ``only_if``,
 * whose outcome depends on whole nested evaluations; a tier's points too large for exact
 * 64-bit integers; a score in no grade band) is flagged, and the caller hands it to
 * ``scoring.evaluate``.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifndef SCS_BUILT_FROM
#define SCS_BUILT_FROM "unstamped"
#endif

const char *scs_built_from(void) { return SCS_BUILT_FROM; }

/* -- the tables (all fields 8 bytes wide: the ctypes mirror in bulk/kernel.py) ---------- */

enum { /* columns of a plan row, one per (kind, type) */
    P_FLAGS, P_CATEGORY, P_BASE, P_DIRECT, P_OWN_SPAN, P_SPAN, P_STEPS_AT, P_STEPS_N,
    P_TIERS_AT, P_TIERS_N, P_MAX_POINTS, P_LIST_MASK, P_REASON_DIRECT, P_REASON_POINTS,
    P_WIDTH
};
enum { /* plan flags */
    F_KNOWN = 1, F_APPLIES = 2, F_CORRECTS = 4, F_NEGATIVE = 8, F_POSITIVE = 16,
    F_REPEATS = 32, F_HIGHEST = 64, F_ONLY_IF = 128, F_TIER_AMOUNT = 256,
    F_TIER_QUANTITY = 512, F_CAPPED = 1024
};
enum { B_HAS_MIN, B_MIN, B_HAS_MAX, B_MAX, B_CAP, B_WIDTH };            /* grade bands */
enum { L_GRADES, L_HAS_RANGE, L_HAS_LO, L_LO, L_HAS_HI, L_HI, L_WIDTH }; /* lists */
enum { R_POINTS0, R_POINTS1, R_POINTS2, R_MONTHS, R_REASON, R_WIDTH };   /* repairs */

typedef struct {
    int64_t ntypes, ngrades, nlists, ncaps, ncategories;
    int64_t base, has_min, minimum, has_max, maximum, higher_is_better;
    int64_t repeat_factor; /* 0: no doubling */
    int64_t one_act_one_item;
    int64_t frozen_reason;
    const int64_t *plans;      /* [3 * ntypes][P_WIDTH], kinds in string order */
    const int64_t *steps;      /* [][2]: up_to (-1: open), months */
    const double *tier_starts; /* [] */
    const double *tier_pers;   /* [] NaN: none */
    const int64_t *tier_points;
    const int64_t *bands;       /* [ngrades][B_WIDTH], best first */
    const int64_t *lists;       /* [nlists][L_WIDTH] */
    const int64_t *caps;        /* [ncaps][2]: category, points */
    const int32_t *repair_of;   /* [ntypes * ntypes]: target type, correcting type -> repair */
    const int64_t *repairs;     /* [][R_WIDTH] */
    const int64_t *reason_rank; /* reason code -> its rank among the codes as strings */
} Rules;

typedef struct { /* a string column in Arrow's layout, plain or dictionary-encoded */
    const int32_t *offsets; /* of the values (the dictionary's, if indices) */
    const uint8_t *data;
    const uint8_t *valid;    /* validity bitmap of the rows, or NULL when nothing is null */
    int64_t bit_offset;      /* the rows' offset into ``valid`` */
    const int32_t *indices;  /* a row's value in the dictionary, or NULL: plain strings */
} Strings;

typedef struct {
    int64_t n;
    const int32_t *kind_index; /* a row's subject_kind in the batch's dictionary... */
    const int32_t *kind_map;   /* ...and that entry's kind, 0..2 in string order (-1: none) */
    const int32_t *type_index; /* a row's type in the batch's dictionary... */
    const int32_t *type_map;   /* ...and that entry in the rulebook (-1: not in it) */
    const int32_t *day;        /* days since 1970-01-01 */
    const double *amount, *quantity;
    const uint8_t *amount_valid, *quantity_valid; /* validity bitmaps, NULL: none null */
    int64_t amount_bit, quantity_bit;              /* the rows' offsets into them */
    Strings subject, ref, provider, act, relates_to;
} Chunk;

typedef struct {
    int64_t *first;   /* the subject's first row in the chunk */
    int64_t *score;
    int64_t *grade;   /* rank */
    int64_t *lists;   /* bit mask over Rules.lists */
    int64_t *reasons; /* [4] per subject, -1 past the last */
    int64_t *exact;   /* 1: leave to scoring.evaluate */
} Out;

enum { MAX_REASONS = 4 };
enum { ST_NONE, ST_NOT_SCORED, ST_SUPERSEDED, ST_REPAIRED, ST_EXPIRED, ST_FROZEN };
#define NO_DAY INT32_MIN
#define TOO_LARGE 9007199254740992.0 /* 2**53: beyond it a float is no exact integer */

/* -- calendar (proleptic Gregorian, days since 1970-01-01) ------------------------------ */

static int64_t days_from_civil(int64_t y, int64_t m, int64_t d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int64_t *m, int64_t *d) {
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = yoe + era * 400 + (*m <= 2);
}

/* First days of the months from January 1900 (``evaluation._MONTH_STARTS``): a date's month
 * and the end of a period are then a table look-up, not a calendar conversion. Dates outside
 * the table take the conversion. */
enum { FIRST_YEAR = 1900, MONTHS = (2201 - 1900) * 12 };
static int32_t month_starts[MONTHS + 1];
static int16_t month_of_day[110000]; /* every day of the table: its month */
static int32_t table_from, table_to; /* the days the table covers: [from, to) */

static void build_month_starts(void) {
    if (table_to != 0) return;
    for (int64_t i = 0; i <= MONTHS; i++)
        month_starts[i] = (int32_t)days_from_civil(FIRST_YEAR + i / 12, i % 12 + 1, 1);
    for (int64_t i = 0; i < MONTHS; i++)
        for (int32_t day = month_starts[i]; day < month_starts[i + 1]; day++)
            month_of_day[day - month_starts[0]] = (int16_t)i;
    table_from = month_starts[0];
    table_to = month_starts[MONTHS];
}

/* The month of ``day`` as (year - 1900) * 12 + month - 1. */
static int64_t month_of(int32_t day) {
    if (day >= table_from && day < table_to) return month_of_day[day - table_from];
    int64_t y, m, d;
    civil_from_days(day, &y, &m, &d);
    return (y - FIRST_YEAR) * 12 + m - 1;
}

static int64_t month_start(int64_t i) {
    if (i >= 0 && i <= MONTHS) return month_starts[i];
    int64_t y = FIRST_YEAR + (i >= 0 ? i / 12 : -((-i + 11) / 12));
    return days_from_civil(y, i - (y - FIRST_YEAR) * 12 + 1, 1);
}

/* ``evaluation.last_day``: the day before the same date ``months`` later, or the end of
 * that month when it has no such date. */
static int32_t last_day(int32_t start, int64_t months) {
    int64_t month = month_of(start);
    int64_t d = start - month_start(month) + 1;
    int64_t target = month + months;
    int64_t following = month_start(target + 1);
    int64_t day = month_start(target) + d - 2;
    return (int32_t)(day < following ? day : following - 1);
}

static int64_t year_of(int32_t day) {
    int64_t i = month_of(day);
    return FIRST_YEAR + (i >= 0 ? i / 12 : -((-i + 11) / 12));
}

/* -- strings --------------------------------------------------------------------------- */

static int bit_set(const uint8_t *bits, int64_t offset, int64_t i) {
    return bits == NULL || ((bits[(offset + i) >> 3] >> ((offset + i) & 7)) & 1);
}

static int is_valid(const Strings *s, int64_t i) {
    if (s->valid == NULL) return 1;
    int64_t bit = s->bit_offset + i;
    return (s->valid[bit >> 3] >> (bit & 7)) & 1;
}

static int64_t value_of(const Strings *s, int64_t row) {
    return s->indices != NULL ? s->indices[row] : row;
}

static int compare_at(const Strings *a, int64_t i, const Strings *b, int64_t j) {
    i = value_of(a, i);
    j = value_of(b, j);
    if (a == b && i == j) return 0; /* one dictionary entry: a subject's rows, mostly */
    int32_t la = a->offsets[i + 1] - a->offsets[i], lb = b->offsets[j + 1] - b->offsets[j];
    int c = memcmp(a->data + a->offsets[i], b->data + b->offsets[j], la < lb ? la : lb);
    return c != 0 ? c : (la > lb) - (la < lb);
}

static int equal_at(const Strings *a, int64_t i, const Strings *b, int64_t j) {
    i = value_of(a, i);
    j = value_of(b, j);
    if (a == b && i == j) return 1;
    int32_t la = a->offsets[i + 1] - a->offsets[i];
    return la == b->offsets[j + 1] - b->offsets[j] &&
           memcmp(a->data + a->offsets[i], b->data + b->offsets[j], la) == 0;
}

/* -- one subject's working state --------------------------------------------------------- */

typedef struct {
    int64_t row;
    int64_t base, points;
    const int64_t *plan; /* NULL: no plan (a type not in the rulebook) */
    int32_t type, day, vf, vu; /* vf, vu: NO_DAY until step 7 sets them */
    int32_t status, direct, target, corrected_by, repair, counts;
} Item;

typedef struct {
    Item *items;
    int64_t cap;
    int32_t *longest; /* per category: the latest day an earlier repeatable one holds */
    int32_t *best;    /* per type: the item counting for a "highest" type */
    int32_t *spans;   /* freezes: [from, to) pairs */
    int64_t *sums;    /* reasons: per reason code */
    int32_t *touched;
    int32_t *relating;
} Work;

static int grow(Work *w, int64_t n) {
    if (n <= w->cap) return 1;
    int64_t cap = w->cap ? w->cap : 64;
    while (cap < n) cap *= 2;
    Item *items = realloc(w->items, (size_t)cap * sizeof(Item));
    if (items == NULL) return 0;
    w->items = items;
    int32_t *spans = realloc(w->spans, (size_t)cap * 2 * sizeof(int32_t));
    if (spans == NULL) return 0;
    w->spans = spans;
    int32_t *touched = realloc(w->touched, (size_t)cap * sizeof(int32_t));
    if (touched == NULL) return 0;
    w->touched = touched;
    int32_t *relating = realloc(w->relating, (size_t)cap * sizeof(int32_t));
    if (relating == NULL) return 0;
    w->relating = relating;
    w->cap = cap;
    return 1;
}

/* Step 2's order: (occurred_on, ref, provider). */
static int before(const Chunk *c, const Item *a, const Item *b) {
    if (a->day != b->day) return a->day < b->day;
    int r = compare_at(&c->ref, a->row, &c->ref, b->row);
    if (r != 0) return r < 0;
    return compare_at(&c->provider, a->row, &c->provider, b->row) < 0;
}

static void sort_items(const Chunk *c, Item *items, int64_t n, Item *scratch) {
    if (n <= 24) { /* a subject's records: mostly few, and mostly in order already */
        for (int64_t i = 1; i < n; i++) {
            if (!before(c, &items[i], &items[i - 1])) continue;
            Item x = items[i];
            int64_t j = i;
            while (j > 0 && before(c, &x, &items[j - 1])) {
                items[j] = items[j - 1];
                j--;
            }
            items[j] = x;
        }
        return;
    }
    int64_t half = n / 2;
    sort_items(c, items, half, scratch);
    sort_items(c, items + half, n - half, scratch);
    int64_t i = 0, j = half, k = 0;
    while (i < half && j < n) scratch[k++] = before(c, &items[j], &items[i]) ? items[j++] : items[i++];
    while (i < half) scratch[k++] = items[i++];
    while (j < n) scratch[k++] = items[j++];
    memcpy(items, scratch, (size_t)n * sizeof(Item));
}

static int64_t span_for(const Rules *r, const int64_t *plan, int64_t points) {
    if (plan[P_OWN_SPAN] >= 0) return plan[P_OWN_SPAN];
    int64_t size = points < 0 ? -points : points;
    for (int64_t k = 0; k < plan[P_STEPS_N]; k++) {
        const int64_t *step = r->steps + 2 * (plan[P_STEPS_AT] + k);
        if (step[0] < 0 || size <= step[0]) return step[1];
    }
    return 0; /* the checker requires a validity for every scored type */
}

/* ``RecordRule.tier_points``; 0 with *too_large set when the points are no exact integer. */
static int64_t tier_points(const Rules *r, const int64_t *plan, double value, int *too_large) {
    double points = 0;
    for (int64_t k = 0; k < plan[P_TIERS_N]; k++) {
        int64_t t = plan[P_TIERS_AT] + k;
        if (value >= r->tier_starts[t]) {
            double per = r->tier_pers[t];
            points = isnan(per) ? (double)r->tier_points[t]
                                : (double)r->tier_points[t] * floor(value / per + 1e-9);
        }
    }
    if (!(fabs(points) < TOO_LARGE)) { /* also NaN, inf */
        if (plan[P_MAX_POINTS] >= 0 && !isnan(points)) return points > 0 ? plan[P_MAX_POINTS] : -plan[P_MAX_POINTS];
        *too_large = 1;
        return 0;
    }
    int64_t p = (int64_t)points;
    if (plan[P_MAX_POINTS] >= 0 && (p < 0 ? -p : p) > plan[P_MAX_POINTS])
        p = p > 0 ? plan[P_MAX_POINTS] : -plan[P_MAX_POINTS];
    return p;
}

static int scored(const Item *it) {
    return it->status == ST_NONE && it->plan != NULL && !(it->plan[P_FLAGS] & F_CORRECTS);
}

static int64_t severity_key(const Item *it, int *direct) {
    *direct = it->direct >= 0;
    if (*direct) return it->direct;
    return it->base < 0 ? -it->base : it->base;
}

static int cmp_span(const void *a, const void *b) {
    const int32_t *x = a, *y = b;
    if (x[0] != y[0]) return x[0] < y[0] ? -1 : 1;
    return (x[1] > y[1]) - (x[1] < y[1]);
}

/* Steps 1-13 for the records [lo, hi) of one subject; 1 if the kernel settled it. */
static int settle(const Chunk *c, const Rules *r, int32_t as_of, Work *w, int64_t lo, int64_t hi,
                  int64_t *score_out, int64_t *grade_out, int64_t *lists_out, int64_t *reasons_out) {
    int64_t kind = c->kind_map[c->kind_index[lo]];
    Item *items = w->items;
    int64_t n = 0;
    /* 1. moment, and 3. classify (it needs no order: done while collecting); which of the
     * later steps have anything to do */
    int too_large = 0;
    int64_t seen = 0; /* the flags of the plans that apply */
    int any_act = 0, any_direct = 0, any_relates = 0;
    const int64_t *plans = r->plans + P_WIDTH * kind * r->ntypes;
    for (int64_t row = lo; row < hi; row++) {
        if (c->day[row] > as_of) continue;
        Item *it = &items[n++];
        it->row = row;
        it->day = c->day[row];
        it->type = c->type_map[c->type_index[row]];
        const int64_t *plan = it->plan = it->type >= 0 ? plans + P_WIDTH * it->type : NULL;
        it->base = it->points = 0;
        it->vf = it->vu = NO_DAY;
        it->status = ST_NONE;
        it->direct = -1;
        it->target = it->corrected_by = it->repair = -1;
        it->counts = 0;
        any_relates |= is_valid(&c->relates_to, row);
        if (plan == NULL || !(plan[P_FLAGS] & F_APPLIES)) {
            it->status = ST_NOT_SCORED;
            continue;
        }
        seen |= plan[P_FLAGS];
        any_act |= is_valid(&c->act, row);
        if (plan[P_FLAGS] & F_ONLY_IF) return 0; /* step 6: the one-subject engine's */
        it->direct = (int32_t)plan[P_DIRECT];
        any_direct |= it->direct >= 0;
        if (plan[P_FLAGS] & (F_TIER_AMOUNT | F_TIER_QUANTITY)) {
            int by_amount = (plan[P_FLAGS] & F_TIER_AMOUNT) != 0;
            double value = by_amount ? c->amount[row] : c->quantity[row];
            if (by_amount ? !bit_set(c->amount_valid, c->amount_bit, row)
                          : !bit_set(c->quantity_valid, c->quantity_bit, row)) {
                it->status = ST_NOT_SCORED;
                continue;
            }
            it->base = it->points = tier_points(r, plan, value, &too_large);
        } else {
            it->base = it->points = plan[P_BASE];
        }
    }
    /* 2. order */
    sort_items(c, items, n, items + n);
    int32_t *relating = w->relating; /* the items that relate to another, in order: step 4's */
    int64_t nrelating = 0;
    for (int64_t i = 0; i < n && any_relates; i++)
        if (is_valid(&c->relates_to, items[i].row)) relating[nrelating++] = (int32_t)i;
    if (too_large) return 0;
    /* 4. relate: same provider first, then the earliest */
    for (int64_t k = 0; k < nrelating; k++) {
        int64_t i = relating[k];
        Item *it = &items[i];
        int32_t any = -1, same = -1;
        int64_t at = value_of(&c->relates_to, it->row);
        const uint8_t *want = c->relates_to.data + c->relates_to.offsets[at];
        int32_t length = c->relates_to.offsets[at + 1] - c->relates_to.offsets[at];
        for (int64_t j = 0; j < n && same < 0; j++) {
            int64_t ref = value_of(&c->ref, items[j].row);
            const int32_t *bounds = c->ref.offsets + ref;
            if (j == i || bounds[1] - bounds[0] != length) continue;
            if (length && (c->ref.data[bounds[0]] != want[0] ||
                           memcmp(c->ref.data + bounds[0], want, (size_t)length) != 0))
                continue;
            if (any < 0) any = (int32_t)j;
            if (equal_at(&c->provider, items[j].row, &c->provider, it->row)) same = (int32_t)j;
        }
        it->target = same >= 0 ? same : any;
    }
    /* 5. one act, one item: the most severe of an act and polarity counts, ties earliest */
    if (r->one_act_one_item && any_act) {
        int32_t *grouped = w->touched;
        for (int64_t i = 0; i < n; i++) grouped[i] = 0;
        for (int64_t i = 0; i < n; i++) {
            Item *it = &items[i];
            if (grouped[i] || !scored(it) || !is_valid(&c->act, it->row)) continue;
            int64_t polarity = it->plan[P_FLAGS] & (F_NEGATIVE | F_POSITIVE);
            int64_t winner = i, members = 1;
            int wd;
            int64_t wk = severity_key(it, &wd);
            grouped[i] = 1;
            for (int64_t j = i + 1; j < n; j++) {
                Item *o = &items[j];
                if (grouped[j] || !scored(o) || !is_valid(&c->act, o->row)) continue;
                if ((o->plan[P_FLAGS] & (F_NEGATIVE | F_POSITIVE)) != polarity) continue;
                if (!equal_at(&c->act, o->row, &c->act, it->row)) continue;
                grouped[j] = 2; /* a member of i's group */
                members++;
                int od;
                int64_t ok = severity_key(o, &od);
                if (od > wd || (od == wd && ok > wk)) winner = j, wk = ok, wd = od;
            }
            if (members < 2) continue;
            for (int64_t j = i; j < n; j++) {
                if (j != winner && (j == i || grouped[j] == 2)) items[j].status = ST_SUPERSEDED;
                if (grouped[j] == 2) grouped[j] = 1;
            }
        }
    }
    /* 7. repeats and validity */
    int32_t *longest = w->longest; /* all NO_DAY between subjects */
    int32_t *set = w->touched;
    int64_t nset = 0;
    for (int64_t i = 0; i < n; i++) {
        Item *it = &items[i];
        const int64_t *plan = it->plan;
        if (plan == NULL || (plan[P_FLAGS] & F_CORRECTS) || it->status == ST_NOT_SCORED) continue;
        int repeatable = (plan[P_FLAGS] & F_REPEATS) && it->status == ST_NONE && it->base != 0;
        int32_t previous = repeatable ? longest[plan[P_CATEGORY]] : NO_DAY;
        int64_t span = plan[P_SPAN];
        if (previous != NO_DAY && previous >= it->day) {
            it->points = it->base * r->repeat_factor;
            span = -1;
        }
        int32_t until = last_day(it->day, span >= 0 ? span : span_for(r, plan, it->points));
        it->vf = it->day;
        it->vu = until;
        if (repeatable && (previous == NO_DAY || until > previous)) {
            if (previous == NO_DAY) set[nset++] = (int32_t)plan[P_CATEGORY];
            longest[plan[P_CATEGORY]] = until;
        }
    }
    for (int64_t k = 0; k < nset; k++) longest[set[k]] = NO_DAY;
    /* 8. corrections and repairs */
    for (int64_t i = 0; i < n && (seen & F_CORRECTS); i++) {
        Item *it = &items[i];
        if (it->plan == NULL || !(it->plan[P_FLAGS] & F_CORRECTS) || it->status != ST_NONE) continue;
        if (it->target < 0) {
            it->status = ST_NOT_SCORED;
            continue;
        }
        Item *target = &items[it->target];
        if (target->day > it->day || target->corrected_by >= 0) {
            it->status = ST_NOT_SCORED;
            continue;
        }
        target->corrected_by = (int32_t)i;
        int32_t repair = target->type < 0 ? -1 : r->repair_of[(int64_t)target->type * r->ntypes + it->type];
        if (repair < 0) continue;
        if (!(target->vf != NO_DAY && target->vf <= it->day && it->day <= target->vu)) continue;
        target->vu = it->day - 1;
        if (target->status != ST_NONE) continue; /* superseded: it just ends */
        target->status = ST_REPAIRED;
        const int64_t *rep = r->repairs + R_WIDTH * repair;
        it->repair = repair;
        it->points = rep[R_POINTS0 + kind];
        it->vf = it->day;
        it->vu = last_day(it->day, rep[R_MONTHS]);
    }
    /* 9. freezes */
    int32_t *spans = w->spans;
    int64_t nspans = 0;
    for (int64_t i = 0; i < n && any_direct; i++) {
        Item *it = &items[i];
        if (it->direct < 0 || !(it->status == ST_NONE || it->status == ST_REPAIRED)) continue;
        if (it->vf == NO_DAY) continue;
        int32_t end = it->vu + 1;
        if (it->corrected_by >= 0 && items[it->corrected_by].day < end) end = items[it->corrected_by].day;
        if (it->vf < end) {
            spans[2 * nspans] = it->vf;
            spans[2 * nspans + 1] = end;
            nspans++;
        }
    }
    if (nspans) {
        qsort(spans, (size_t)nspans, 2 * sizeof(int32_t), cmp_span);
        int64_t m = 0; /* merged in place into disjoint [from, to) */
        for (int64_t k = 1; k < nspans; k++) {
            if (spans[2 * k] <= spans[2 * m + 1]) {
                if (spans[2 * k + 1] > spans[2 * m + 1]) spans[2 * m + 1] = spans[2 * k + 1];
            } else {
                m++;
                spans[2 * m] = spans[2 * k];
                spans[2 * m + 1] = spans[2 * k + 1];
            }
        }
        nspans = m + 1;
        for (int64_t i = 0; i < n; i++) {
            Item *it = &items[i];
            const int64_t *plan = it->plan;
            if (it->status != ST_NONE || plan == NULL || !(plan[P_FLAGS] & F_POSITIVE) ||
                (plan[P_FLAGS] & F_CORRECTS))
                continue;
            for (int64_t k = 0; k < nspans; k++) {
                if (spans[2 * k] <= it->day && it->day < spans[2 * k + 1]) {
                    it->vf = spans[2 * k + 1];
                    break;
                }
            }
        }
    }
    /* 10. annual caps: room taken at occurrence, per category and calendar year */
    for (int64_t cap = 0; cap < r->ncaps && (seen & F_CAPPED); cap++) {
        int64_t category = r->caps[2 * cap], limit = r->caps[2 * cap + 1];
        int64_t year = INT64_MIN, left = 0;
        for (int64_t i = 0; i < n; i++) { /* items are in day order: years only grow */
            Item *it = &items[i];
            const int64_t *plan = it->plan;
            if (plan == NULL || plan[P_CATEGORY] != category || it->points == 0) continue;
            if (it->status != ST_NONE || (plan[P_FLAGS] & F_CORRECTS)) continue;
            int64_t y = year_of(it->day);
            if (y != year) year = y, left = limit;
            int64_t size = it->points < 0 ? -it->points : it->points;
            if (left < size) size = left;
            left -= size;
            if (size < (it->points < 0 ? -it->points : it->points)) it->points = it->points > 0 ? size : -size;
        }
    }
    /* From here on only the items still valid at the moment can matter (count, hold a list,
     * or be frozen): the others, and what ended before it, are left out of steps 11-13. */
    int64_t kept = 0;
    for (int64_t i = 0; i < n; i++) {
        Item *it = &items[i];
        if (it->vf != NO_DAY && it->vu >= as_of &&
            (it->status == ST_NONE || it->status == ST_SUPERSEDED))
            items[kept++] = *it;
    }
    n = kept;
    /* 11. the moment's status; "highest" keeps the largest (between equals, the latest) */
    int32_t *best = w->best;
    int any_highest = 0;
    for (int64_t i = 0; i < n; i++) {
        Item *it = &items[i];
        if (it->status != ST_NONE || it->vf == NO_DAY) continue;
        if (as_of > it->vu) {
            it->status = ST_EXPIRED;
        } else if (as_of < it->vf) {
            it->status = ST_FROZEN;
        } else {
            it->counts = 1;
            if (it->plan[P_FLAGS] & F_HIGHEST) {
                if (!any_highest) {
                    for (int64_t t = 0; t < r->ntypes; t++) best[t] = -1;
                    any_highest = 1;
                }
                int32_t held = best[it->type];
                int64_t size = it->points < 0 ? -it->points : it->points;
                if (held < 0) {
                    best[it->type] = (int32_t)i;
                } else {
                    Item *h = &items[held];
                    int64_t hsize = h->points < 0 ? -h->points : h->points;
                    if (size > hsize || (size == hsize && it->day >= h->day)) best[it->type] = (int32_t)i;
                }
            }
        }
    }
    if (any_highest) {
        for (int64_t i = 0; i < n; i++) {
            Item *it = &items[i];
            if (it->counts && (it->plan[P_FLAGS] & F_HIGHEST) && best[it->type] != i) {
                it->counts = 0;
                it->status = ST_SUPERSEDED;
            }
        }
    }
    /* 12. score and grade */
    int64_t points = r->base;
    for (int64_t i = 0; i < n; i++)
        if (items[i].counts) points += items[i].points;
    int64_t score = points;
    if (r->has_min && score < r->minimum) score = r->minimum;
    else if (r->has_max && score > r->maximum) score = r->maximum;
    int64_t worst_direct = -1;
    for (int64_t i = 0; i < n; i++) {
        Item *it = &items[i];
        if (!it->counts || it->direct < 0) continue;
        int64_t cap = r->bands[B_WIDTH * it->direct + B_CAP];
        if (r->higher_is_better ? cap < score : cap > score) score = cap;
        if (it->direct > worst_direct) worst_direct = it->direct;
    }
    int64_t grade = -1;
    for (int64_t g = 0; g < r->ngrades; g++) {
        const int64_t *band = r->bands + B_WIDTH * g;
        if ((!band[B_HAS_MIN] || score >= band[B_MIN]) && (!band[B_HAS_MAX] || score <= band[B_MAX])) {
            grade = g;
            break;
        }
    }
    if (grade < 0) return 0; /* no band holds the score: the one-subject engine says why */
    if (worst_direct > grade) grade = worst_direct;
    /* 13. lists: by grade, by score range, by a record of a listed type holding now */
    int64_t mask = 0;
    for (int64_t i = 0; i < n; i++) {
        Item *it = &items[i];
        if (it->plan == NULL || !it->plan[P_LIST_MASK]) continue;
        if (!(it->status == ST_NONE || it->status == ST_SUPERSEDED)) continue;
        if (it->vf != NO_DAY && it->vf <= as_of && as_of <= it->vu) mask |= it->plan[P_LIST_MASK];
    }
    for (int64_t l = 0; l < r->nlists; l++) {
        const int64_t *list = r->lists + L_WIDTH * l;
        if ((list[L_GRADES] >> grade) & 1) mask |= (int64_t)1 << l;
        else if (list[L_HAS_RANGE] && (!list[L_HAS_LO] || score >= list[L_LO]) &&
                 (!list[L_HAS_HI] || score <= list[L_HI]))
            mask |= (int64_t)1 << l;
    }
    /* reasons: direct grades worst first, point totals by size, frozen additions; ties by code */
    int64_t *sums = w->sums;
    int32_t *touched = w->touched;
    int64_t ntouched = 0, frozen = 0;
    int64_t kinds[3 * 64]; /* candidates: (class, key, code) */
    int64_t ncand = 0;
    for (int64_t i = 0; i < n; i++) {
        Item *it = &items[i];
        if (!it->counts) {
            if (it->status == ST_FROZEN) frozen = 1;
            continue;
        }
        int64_t code;
        if (it->direct >= 0) {
            code = it->plan[P_REASON_DIRECT];
            if (sums[code] == INT64_MIN) {
                touched[ntouched++] = (int32_t)code;
                sums[code] = 0;
                if (ncand < 64) {
                    kinds[3 * ncand] = 0;
                    kinds[3 * ncand + 1] = -it->direct;
                    kinds[3 * ncand + 2] = code;
                    ncand++;
                }
            }
            continue;
        }
        if (it->repair >= 0) code = r->repairs[R_WIDTH * it->repair + R_REASON];
        else if ((it->plan[P_FLAGS] & F_NEGATIVE) && it->points) code = it->plan[P_REASON_POINTS];
        else continue;
        if (sums[code] == INT64_MIN) {
            touched[ntouched++] = (int32_t)code;
            sums[code] = 0;
        }
        sums[code] += it->points;
    }
    for (int64_t k = 0; k < ntouched; k++) {
        int64_t code = touched[k];
        int is_direct = 0;
        for (int64_t q = 0; q < ncand; q++) is_direct |= kinds[3 * q + 2] == code && kinds[3 * q] == 0;
        if (!is_direct && ncand < 64) {
            int64_t total = sums[code] < 0 ? -sums[code] : sums[code];
            kinds[3 * ncand] = 1;
            kinds[3 * ncand + 1] = -total;
            kinds[3 * ncand + 2] = code;
            ncand++;
        }
        sums[code] = INT64_MIN;
    }
    if (frozen && ncand < 64) {
        kinds[3 * ncand] = 2;
        kinds[3 * ncand + 1] = 0;
        kinds[3 * ncand + 2] = r->frozen_reason;
        ncand++;
    }
    if (ncand >= 64) return 0; /* more adverse factors than kept here: the engine ranks them */
    for (int64_t slot = 0; slot < MAX_REASONS; slot++) { /* selection of the four first */
        int64_t pick = -1;
        for (int64_t q = 0; q < ncand; q++) {
            if (kinds[3 * q] < 0) continue;
            if (pick < 0) {
                pick = q;
                continue;
            }
            int64_t *a = kinds + 3 * q, *b = kinds + 3 * pick;
            if (a[0] != b[0] ? a[0] < b[0]
                : a[1] != b[1] ? a[1] < b[1]
                : r->reason_rank[a[2]] < r->reason_rank[b[2]])
                pick = q;
        }
        reasons_out[slot] = pick < 0 ? -1 : kinds[3 * pick + 2];
        if (pick >= 0) kinds[3 * pick] = -1;
    }
    *score_out = score;
    *grade_out = grade;
    *lists_out = mask;
    return 1;
}

/* -- the chunk ------------------------------------------------------------------------- */

static int subject_before(const Chunk *c, int64_t i, int64_t j) { /* (kind, id) order */
    if (c->kind_index[i] != c->kind_index[j]) {
        int32_t a = c->kind_map[c->kind_index[i]], b = c->kind_map[c->kind_index[j]];
        if (a != b) return a < b ? -1 : 1;
    }
    return compare_at(&c->subject, i, &c->subject, j);
}

/* Score every subject that starts and ends in the chunk (all of them when ``last``).
 *
 * Returns the number of subjects written to ``out``; ``*consumed`` is the rows they cover
 * (the caller carries the rest into the next chunk). -1: out of memory. -2: the rows are not
 * sorted by subject; ``*consumed`` is then the first row out of order. -3: a row's kind of
 * subject is none the kernel knows; ``*consumed`` is that row.
 */
int64_t scs_score_chunk(const Chunk *c, const Rules *r, int64_t as_of, int64_t last, Out *out,
                        int64_t *consumed) {
    build_month_starts();
    Work w = {0};
    int64_t nreasons = 2 * r->ntypes + 64;
    w.longest = malloc((size_t)(r->ncategories + 1) * sizeof(int32_t));
    w.best = malloc((size_t)(r->ntypes + 1) * sizeof(int32_t));
    w.sums = malloc((size_t)(nreasons + 1) * sizeof(int64_t));
    int64_t written = 0;
    *consumed = 0;
    if (w.longest == NULL || w.best == NULL || w.sums == NULL || !grow(&w, 64)) {
        written = -1;
        goto done;
    }
    for (int64_t k = 0; k <= nreasons; k++) w.sums[k] = INT64_MIN;
    for (int64_t k = 0; k <= r->ncategories; k++) w.longest[k] = NO_DAY;
    int64_t lo = 0;
    while (lo < c->n) {
        int64_t hi = lo + 1;
        while (hi < c->n) {
            int order = subject_before(c, hi - 1, hi);
            if (order > 0) {
                *consumed = hi;
                written = -2;
                goto done;
            }
            if (order != 0) break;
            hi++;
        }
        if (hi == c->n && !last) break; /* may go on in the next chunk */
        if (c->kind_map[c->kind_index[lo]] < 0) {
            *consumed = lo;
            written = -3;
            goto done;
        }
        if (!grow(&w, 2 * (hi - lo))) {
            written = -1;
            goto done;
        }
        int64_t *reasons = out->reasons + MAX_REASONS * written;
        out->first[written] = lo;
        out->exact[written] = !settle(c, r, (int32_t)as_of, &w, lo, hi, &out->score[written],
                                      &out->grade[written], &out->lists[written], reasons);
        if (out->exact[written]) {
            for (int64_t k = 0; k < MAX_REASONS; k++) reasons[k] = -1;
            out->score[written] = out->grade[written] = out->lists[written] = 0;
            for (int64_t k = 0; k <= nreasons; k++) w.sums[k] = INT64_MIN;
        }
        written++;
        lo = hi;
    }
    *consumed = lo;
done:
    free(w.items);
    free(w.spans);
    free(w.touched);
    free(w.relating);
    free(w.longest);
    free(w.best);
    free(w.sums);
    return written;
}

/* The first row at or after ``from`` (> 0) that starts a subject, or the chunk's length;
 * -1 if the rows there are out of order. Where a chunk can be cut in two for two threads. */
int64_t scs_subject_start(const Chunk *c, int64_t from) {
    for (int64_t row = from; row < c->n; row++) {
        int order = subject_before(c, row - 1, row);
        if (order > 0) return -1;
        if (order < 0) return row;
    }
    return c->n;
}
