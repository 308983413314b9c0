/* Integer depthwise conv forward (design 2): for every channel c,
 * y = clamp(MBQM(sum over the taps of (x - zx)(w - zw) + b) + zy), int32 sum, wrapping bias add.
 * Weights are in Flax layout (kh, kw, 1, C): the C channels of a tap are contiguous, like the C
 * channels of an input pixel (HWC), so both walk channels with the same unit stride.
 *
 * Channels go in blocks whose weights, centred once per call, fit a table on the stack: the
 * weights are the same for every output position, the inputs are not.  Three paths, the first
 * that applies: the DSP path (M4/M7, groups of four channels in SIMD lanes), the portable table
 * path (M0+, host, and the DSP path's tail channels), and a plain fallback for kernels beyond
 * the tables or zero points that are no uint8 code.  Padding taps add nothing: the fallback and
 * the DSP border loop skip them ((x - zx) = 0 there), the table loops read a pixel of x_zero
 * codes instead.  No path tests a tap inside its channel loop.  Small images on the M4/M7 go to
 * depthwise_forward_q_small.c (a padded copy of the input) before any of these. */
#include <string.h>

#include "dsp.h"
#include "dsp_loops.h"
#include "explore_kernels.h"
#include "requant.h"

/* The inside taps of one output position: `rows` x `cols` taps from input pixel x (channel 0)
   and kernel tap `tap0`; the steps move one tap right (col) or down (row). */
typedef struct {
    const uint8_t *x;
    uint32_t tap0, rows, cols;
    uint32_t x_col, x_row;
} window_t;

/* Taps [lo, hi) of a kernel of k taps whose first tap reads input index `first` of n. */
static void inside_taps(int32_t first, uint32_t k, uint32_t n, uint32_t *lo, uint32_t *hi)
{
    int32_t begin = first < 0 ? -first : 0;
    int32_t end = (int32_t)n - first;
    end = end > (int32_t)k ? (int32_t)k : end;
    *lo = (uint32_t)begin;
    *hi = (uint32_t)(end > begin ? end : begin);
}

static window_t window_at(const explore_conv_geom_t *g, const uint8_t *x, uint32_t oh, uint32_t ow)
{
    window_t t;
    int32_t top = (int32_t)(oh * g->stride_h) - (int32_t)g->pad_top;
    int32_t left = (int32_t)(ow * g->stride_w) - (int32_t)g->pad_left;
    uint32_t kh0, kh1, kw0, kw1;
    inside_taps(top, g->k_h, g->in_h, &kh0, &kh1);
    inside_taps(left, g->k_w, g->in_w, &kw0, &kw1);
    t.rows = kh1 - kh0;
    t.cols = kw1 - kw0;
    t.x_col = g->in_c;
    t.x_row = g->in_w * g->in_c;
    /* pointers are formed only for a non-empty window (an empty one may lie outside x) */
    int inside = t.rows && t.cols;
    t.x = inside ? x + (uint32_t)((top + (int32_t)kh0) * (int32_t)g->in_w + left + (int32_t)kw0) * g->in_c : x;
    t.tap0 = inside ? kh0 * g->k_w + kw0 : 0u;
    return t;
}

/* int32 addition that wraps like the simulator's (a bias clamped near 2^31 can overflow it). */
static int32_t add_wrapping(int32_t a, int32_t b)
{
    return (int32_t)((uint32_t)a + (uint32_t)b);
}

/* A copy of r for a multiplier without left shift (r->left == 0), the usual case: with the
   constant the compiler drops the saturating left shift and keeps the product a single SMLAL. */
EXPLORE_INLINE explore_requant_t right_shift_only(const explore_requant_t *r)
{
    explore_requant_t k = *r;
    k.left = 0u;
    k.all_zero = 0;
    k.limit = 2147483647;
    return k;
}

/* What every output position shares: the layer, its requantization, the channels to compute. */
typedef struct {
    const explore_conv_geom_t *g;
    const explore_conv_q_params_t *p;
    const explore_requant_t *r;
    const uint8_t *w;
    const int32_t *bias;
    uint32_t first, end;    /* channels [first, end) */
} layer_t;

/* Stack (about 1.8 KB in all, below the 2 KB patch of conv_forward_q.c's DSP path): the weight
   table of one block of channels, and per position the block's accumulators, its padding pixel
   and the tap pointers or offsets. */
#define TABLE_WORDS 256u
#define BLOCK_MAX 32u       /* channels per block */
#define TAPS_MAX 81u        /* taps of the table paths: 9x9, the largest kernel the model families draw */

/* --- any layer: one channel at a time straight from the weights (the fallback) --------------- */

static int32_t channel_dot(const window_t *t, const uint8_t *x, const uint8_t *w, uint32_t w_col, uint32_t w_row,
                           int32_t x_zero, int32_t w_zero)
{
    int32_t acc = 0;
    for (uint32_t r = t->rows; r; r--, x += t->x_row, w += w_row) {
        const uint8_t *xp = x, *wp = w;
        for (uint32_t n = t->cols; n; n--, xp += t->x_col, wp += w_col) {
            acc += ((int32_t)*xp - x_zero) * ((int32_t)*wp - w_zero);
        }
    }
    return acc;
}

/* Channels [l->first, l->end) of every output position. */
static void fallback_pass(const layer_t *l, const uint8_t *x, uint8_t *y)
{
    const explore_conv_geom_t *g = l->g;
    uint32_t channels = g->out_c;
    for (uint32_t oh = 0; oh < g->out_h; oh++) {
        for (uint32_t ow = 0; ow < g->out_w; ow++) {
            window_t t = window_at(g, x, oh, ow);
            const uint8_t *w = l->w + t.tap0 * channels;
            uint8_t *yp = y + (oh * g->out_w + ow) * channels;
            for (uint32_t c = l->first; c < l->end; c++) {
                int32_t acc = channel_dot(&t, t.x + c, w + c, channels, g->k_w * channels, l->p->x_zero, l->p->w_zero);
                yp[c] = explore_requant(l->r, add_wrapping(acc, l->bias[c]));
            }
        }
    }
}

/* --- the portable loops: every tap through a pointer table ---------------------------------------
   sum (x - zx)(w - zw) + b = sum x (w - zw) + (b - zx sum (w - zw)) modulo 2^32, which is all the
   wrapping bias add asks.  A padding tap reads a pixel of x_zero codes: it adds zx (w - zw), which
   cancels its share of the start value, so every position runs the same loop over all taps with
   raw input codes, centred weights and no test. */

/* Per channel of the block: (w - zw) of every tap, then the start value b - zx sum (w - zw). */
static void centre_weights(const layer_t *l, int32_t *table)
{
    uint32_t taps = l->g->k_h * l->g->k_w, channels = l->g->out_c;
    for (uint32_t c = l->first; c < l->end; c++) {
        uint32_t sum = 0;
        for (uint32_t tap = 0; tap < taps; tap++, table++) {
            *table = (int32_t)l->w[tap * channels + c] - l->p->w_zero;
            sum += (uint32_t)*table;
        }
        *table++ = (int32_t)((uint32_t)l->bias[c] - (uint32_t)l->p->x_zero * sum);
    }
}

/* Channel l->first of the input pixel under every tap of position (oh, ow), or the padding pixel. */
static void tap_pointers(const layer_t *l, const uint8_t *x, const uint8_t *pad, uint32_t oh, uint32_t ow,
                         const uint8_t **ptr)
{
    const explore_conv_geom_t *g = l->g;
    for (uint32_t kh = 0; kh < g->k_h; kh++) {
        int32_t ih = explore_conv_in_row(g, oh, kh);
        for (uint32_t kw = 0; kw < g->k_w; kw++) {
            int32_t iw = explore_conv_in_col(g, ow, kw);
            *ptr++ = ih >= 0 && iw >= 0 ? x + ((uint32_t)ih * g->in_w + (uint32_t)iw) * g->in_c + l->first : pad;
        }
    }
}

/* Channels of the block at one position, taps innermost; unsigned sums wrap like the bias add. */
EXPLORE_INLINE void position_table(const layer_t *l, const explore_requant_t *r, const int32_t *table,
                                   const uint8_t *const *ptr, uint8_t *y)
{
    const uint8_t *const *end = ptr + l->g->k_h * l->g->k_w;
    for (uint32_t c = 0, n = l->end - l->first; c < n; c++) {
        uint32_t acc = 0;
        for (const uint8_t *const *pp = ptr; pp != end; pp++, table++) {
            acc += (uint32_t)((int32_t)(*pp)[c] * *table);
        }
        y[c] = explore_requant(r, (int32_t)(acc + (uint32_t)*table++));
    }
}

EXPLORE_INLINE void row_table(const layer_t *l, const explore_requant_t *r, const int32_t *table, const uint8_t *pad,
                              const uint8_t *x, uint32_t oh, uint8_t *y)
{
    const explore_conv_geom_t *g = l->g;
    const uint8_t *ptr[TAPS_MAX];
    for (uint32_t ow = 0; ow < g->out_w; ow++) {
        tap_pointers(l, x, pad, oh, ow, ptr);
        position_table(l, r, table, ptr, y + (oh * g->out_w + ow) * g->out_c + l->first);
    }
}

EXPLORE_INNER_LOOP void row_table_any(const layer_t *l, const int32_t *table, const uint8_t *pad, const uint8_t *x,
                                      uint32_t oh, uint8_t *y)
{
    row_table(l, l->r, table, pad, x, oh, y);
}

EXPLORE_INNER_LOOP void row_table_right(const layer_t *l, const int32_t *table, const uint8_t *pad,
                                        const uint8_t *x, uint32_t oh, uint8_t *y)
{
    explore_requant_t right = right_shift_only(l->r);
    row_table(l, &right, table, pad, x, oh, y);
}

/* Channels [l->first, l->end) (at most a block) everywhere. */
static void table_pass(const layer_t *l, const uint8_t *x, uint8_t *y)
{
    int32_t table[TABLE_WORDS];
    uint8_t pad[BLOCK_MAX];
    centre_weights(l, table);
    memset(pad, l->p->x_zero, l->end - l->first);
    int right = l->r->left == 0u;
    for (uint32_t oh = 0; oh < l->g->out_h; oh++) {
        if (right) {
            row_table_right(l, table, pad, x, oh, y);
        } else {
            row_table_any(l, table, pad, x, oh, y);
        }
    }
}

/* Channels [l->first, l->end) in blocks whose table fits; returns the first channel left (all of
   them for a kernel beyond TAPS_MAX taps or an input zero point that is no uint8 code). */
static uint32_t table_blocks(layer_t *l, const uint8_t *x, uint8_t *y)
{
    uint32_t taps = l->g->k_h * l->g->k_w, end = l->end;
    uint32_t block = TABLE_WORDS / (taps + 1u);
    block = block < BLOCK_MAX ? block : BLOCK_MAX;
    if (taps > TAPS_MAX || l->p->x_zero < 0 || l->p->x_zero > 255) {
        return l->first;
    }
    for (uint32_t first = l->first; first < end; first += block) {
        l->first = first;
        l->end = end - first < block ? end : first + block;
        table_pass(l, x, y);
    }
    l->end = end;
    return end;
}

#ifdef EXPLORE_USE_DSP
/* Four channels per word: UXTB16 widens input bytes (0, 2) (or, rotated, (1, 3)) to 16-bit lanes;
   SMLABB / SMLATT multiply-accumulate the low / high lanes, one channel each.  The weights, the
   same for every position, are centred and widened once per call into a table on the stack
   (UXTAB16 adds the negated zero point as it widens), so a tap costs one input load, two UXTB16,
   one LDRD and four MACs.  As in the portable loops, the accumulators start from
   b - zx sum (w - zw) and padding taps read the pixel of x_zero codes.  Interior positions of a
   3x3 kernel are fully unrolled, and so are its border positions, through tap pointers; other
   kernels loop over a table of tap offsets (interior) or over the inside taps (border). */

static inline uint32_t centred02(uint32_t minus_zero, uint32_t v)
{
    return __uxtab16(minus_zero, v);
}

static inline uint32_t centred13(uint32_t minus_zero, uint32_t v)
{
    uint32_t r;
    __asm__("uxtab16 %0, %1, %2, ror #8" : "=r"(r) : "r"(minus_zero), "r"(v));
    return r;
}

/* A zero point as two 16-bit lanes of its negation. */
static uint32_t minus_pair(int32_t zero)
{
    return ((uint32_t)-zero & 0xFFFFu) * 0x10001u;
}

/* The lanes hold w - zw exactly, and the padding pixel holds zx, only for zero points of uint8
   codes (always so for a bundle). */
static int lanes_exact(const explore_conv_q_params_t *p)
{
    return p->x_zero >= 0 && p->x_zero <= 255 && p->w_zero >= 0 && p->w_zero <= 255;
}

typedef struct {
    int32_t c0, c1, c2, c3;
} four_t;

/* Table words of one group of four channels: two per tap, then the four start values. */
static uint32_t group_words(const explore_conv_geom_t *g)
{
    return 2u * g->k_h * g->k_w + 4u;
}

/* The table of the channel groups starting at channel l->first, group after group: per tap
   channels (0, 2) then (1, 3) of the centred weights, then b - zx sum (w - zw) of channels 0..3. */
static void widen_weights(const layer_t *l, uint32_t groups, uint32_t *table)
{
    uint32_t taps = l->g->k_h * l->g->k_w, channels = l->g->out_c;
    uint32_t minus_zw = minus_pair(l->p->w_zero);
    for (uint32_t group = 0; group < groups; group++) {
        uint32_t c = l->first + 4u * group;
        const uint8_t *w = l->w + c;
        uint32_t sums[4] = {0, 0, 0, 0};
        for (uint32_t tap = 0; tap < taps; tap++, w += channels, table += 2) {
            table[0] = centred02(minus_zw, explore_load4(w));
            table[1] = centred13(minus_zw, explore_load4(w));
            for (uint32_t k = 0; k < 4u; k++) {
                sums[k] += (uint32_t)((int32_t)w[k] - l->p->w_zero);
            }
        }
        for (uint32_t k = 0; k < 4u; k++, table++) {
            *table = (uint32_t)l->bias[c + k] - (uint32_t)l->p->x_zero * sums[k];
        }
    }
}

/* Input lanes (0, 2) and (1, 3) against one tap's table words. */
EXPLORE_INLINE void lanes_mac(uint32_t x02, uint32_t x13, const uint32_t *wt, four_t *a)
{
    a->c0 = (int32_t)__smlabb(x02, wt[0], a->c0);
    a->c2 = (int32_t)__smlatt(x02, wt[0], a->c2);
    a->c1 = (int32_t)__smlabb(x13, wt[1], a->c1);
    a->c3 = (int32_t)__smlatt(x13, wt[1], a->c3);
}

/* A tap on raw input codes. */
EXPLORE_INLINE void tap_mac(const uint8_t *x, const uint32_t *wt, four_t *a)
{
    uint32_t xv = explore_load4(x);
    lanes_mac(explore_bytes02(xv), explore_bytes13(xv), wt, a);
}

EXPLORE_INLINE four_t start_values(const uint32_t *init)
{
    four_t a = {(int32_t)init[0], (int32_t)init[1], (int32_t)init[2], (int32_t)init[3]};
    return a;
}

EXPLORE_INLINE void store_four(four_t a, int32_t *acc)
{
    acc[0] = a.c0;
    acc[1] = a.c1;
    acc[2] = a.c2;
    acc[3] = a.c3;
}

/* The channel groups of one position: input at channel l->first of the window's first pixel (or
   the tap pointers), the table of the first group, `stride` table words per group. */
typedef struct {
    const uint8_t *x;
    const uint32_t *wt;
    uint32_t groups, stride, taps, x_col, x_row;
} groups_t;

EXPLORE_INLINE void row_of_three(const uint8_t *x, uint32_t col, const uint32_t *wt, four_t *a)
{
    tap_mac(x, wt, a);
    tap_mac(x + col, wt + 2, a);
    tap_mac(x + 2u * col, wt + 4, a);
}

EXPLORE_INNER_LOOP void groups_3x3(const groups_t *s, int32_t *acc)
{
    const uint8_t *x = s->x;
    const uint32_t *wt = s->wt;
    uint32_t col = s->x_col, row = s->x_row;
    for (uint32_t n = s->groups; n; n--, x += 4, wt += s->stride, acc += 4) {
        four_t a = start_values(wt + 18);
        row_of_three(x, col, wt, &a);
        row_of_three(x + row, col, wt + 6, &a);
        row_of_three(x + 2u * row, col, wt + 12, &a);
        store_four(a, acc);
    }
}

EXPLORE_INLINE void row_of_three_at(const uint8_t *const *ptr, uint32_t offset, const uint32_t *wt, four_t *a)
{
    tap_mac(ptr[0] + offset, wt, a);
    tap_mac(ptr[1] + offset, wt + 2, a);
    tap_mac(ptr[2] + offset, wt + 4, a);
}

EXPLORE_INNER_LOOP void groups_3x3_at(const groups_t *s, const uint8_t *const *ptr, int32_t *acc)
{
    const uint32_t *wt = s->wt;
    for (uint32_t offset = 0; offset < 4u * s->groups; offset += 4u, wt += s->stride, acc += 4) {
        four_t a = start_values(wt + 18);
        row_of_three_at(ptr, offset, wt, &a);
        row_of_three_at(ptr + 3, offset, wt + 6, &a);
        row_of_three_at(ptr + 6, offset, wt + 12, &a);
        store_four(a, acc);
    }
}

/* Any kernel, interior: the taps at offsets[] from the window's first pixel. */
EXPLORE_INNER_LOOP void groups_offsets(const groups_t *s, const uint32_t *offsets, int32_t *acc)
{
    const uint8_t *x = s->x;
    const uint32_t *wt = s->wt;
    for (uint32_t n = s->groups; n; n--, x += 4, wt += s->stride, acc += 4) {
        four_t a = start_values(wt + 2u * s->taps);
        const uint32_t *off = offsets, *wp = wt;
        for (uint32_t i = s->taps; i; i--, off++, wp += 2) {
            tap_mac(x + *off, wp, &a);
        }
        store_four(a, acc);
    }
}

/* Any kernel, border: the inside taps only, on centred input codes (UXTAB16 adds the negated
   zero point as it widens), the bias added after. */
EXPLORE_INLINE void tap_centred(const uint8_t *x, const uint32_t *wt, uint32_t minus_zx, four_t *a)
{
    uint32_t xv = explore_load4(x);
    lanes_mac(centred02(minus_zx, xv), centred13(minus_zx, xv), wt, a);
}

EXPLORE_INLINE four_t border(const window_t *t, const uint8_t *x, const uint32_t *wt, uint32_t k_w, uint32_t minus_zx)
{
    four_t a = {0, 0, 0, 0};
    wt += 2u * t->tap0;
    for (uint32_t r = t->rows; r; r--, x += t->x_row, wt += 2u * k_w) {
        const uint8_t *xp = x;
        const uint32_t *wp = wt;
        for (uint32_t n = t->cols; n; n--, xp += t->x_col, wp += 2) {
            tap_centred(xp, wp, minus_zx, &a);
        }
    }
    return a;
}

EXPLORE_INNER_LOOP void groups_border(const groups_t *s, const window_t *t, uint32_t k_w, uint32_t minus_zx,
                                      const int32_t *bias, int32_t *acc)
{
    const uint8_t *x = s->x;
    const uint32_t *wt = s->wt;
    for (uint32_t n = s->groups; n; n--, x += 4, wt += s->stride, acc += 4, bias += 4) {
        four_t a = border(t, x, wt, k_w, minus_zx);
        acc[0] = add_wrapping(a.c0, bias[0]);
        acc[1] = add_wrapping(a.c1, bias[1]);
        acc[2] = add_wrapping(a.c2, bias[2]);
        acc[3] = add_wrapping(a.c3, bias[3]);
    }
}

/* What a pass shares: the weight table, the tap offsets of an interior window, the padding pixel
   and the input. */
typedef struct {
    const uint32_t *table;
    const uint32_t *offsets;
    const uint8_t *pad, *x;
} dsp_pass_t;

/* The accumulators (bias included) of the block's channels at position (oh, ow) into acc[]. */
static void position_sums(const layer_t *l, const dsp_pass_t *d, uint32_t oh, uint32_t ow, int32_t *acc)
{
    const explore_conv_geom_t *g = l->g;
    window_t t = window_at(g, d->x, oh, ow);
    groups_t s = {t.x + l->first, d->table, (l->end - l->first) / 4u, group_words(g), g->k_h * g->k_w, t.x_col,
                  t.x_row};
    int three = g->k_h == 3u && g->k_w == 3u;
    if (t.rows == g->k_h && t.cols == g->k_w) {
        if (three) {
            groups_3x3(&s, acc);
        } else {
            groups_offsets(&s, d->offsets, acc);
        }
        return;
    }
    if (three) {
        const uint8_t *ptr[9];
        tap_pointers(l, d->x, d->pad, oh, ow, ptr);
        groups_3x3_at(&s, ptr, acc);
    } else {
        groups_border(&s, &t, g->k_w, minus_pair(l->p->x_zero), l->bias + l->first, acc);
    }
}

/* Requantization in a loop of its own, after the sums: its parameters do not compete with the
   MAC loops for registers. */
EXPLORE_INLINE void requant_run(const explore_requant_t *r, const int32_t *acc, uint32_t n, uint8_t *y)
{
    for (uint32_t k = 0; k < n; k++) {
        y[k] = explore_requant(r, acc[k]);
    }
}

/* Output row oh, every position. */
EXPLORE_INLINE void row_dsp(const layer_t *l, const explore_requant_t *r, const dsp_pass_t *d, uint32_t oh, uint8_t *y)
{
    const explore_conv_geom_t *g = l->g;
    int32_t acc[BLOCK_MAX];
    for (uint32_t ow = 0; ow < g->out_w; ow++) {
        position_sums(l, d, oh, ow, acc);
        requant_run(r, acc, l->end - l->first, y + (oh * g->out_w + ow) * g->out_c + l->first);
    }
}

EXPLORE_INNER_LOOP void row_dsp_any(const layer_t *l, const dsp_pass_t *d, uint32_t oh, uint8_t *y)
{
    row_dsp(l, l->r, d, oh, y);
}

EXPLORE_INNER_LOOP void row_dsp_right(const layer_t *l, const dsp_pass_t *d, uint32_t oh, uint8_t *y)
{
    explore_requant_t right = right_shift_only(l->r);
    row_dsp(l, &right, d, oh, y);
}

/* Channel groups [l->first, l->end) (a multiple of four channels whose table fits) everywhere. */
static void dsp_pass(const layer_t *l, const uint8_t *x, uint8_t *y)
{
    const explore_conv_geom_t *g = l->g;
    uint32_t table[TABLE_WORDS], offsets[TAPS_MAX];
    uint8_t pad[BLOCK_MAX];
    widen_weights(l, (l->end - l->first) / 4u, table);
    for (uint32_t kh = 0, i = 0; kh < g->k_h; kh++) {
        for (uint32_t kw = 0; kw < g->k_w; kw++, i++) {
            offsets[i] = (kh * g->in_w + kw) * g->in_c;
        }
    }
    memset(pad, l->p->x_zero, l->end - l->first);
    dsp_pass_t d = {table, offsets, pad, x};
    int right = l->r->left == 0u;
    for (uint32_t oh = 0; oh < g->out_h; oh++) {
        if (right) {
            row_dsp_right(l, &d, oh, y);
        } else {
            row_dsp_any(l, &d, oh, y);
        }
    }
}

/* Channels in blocks of as many 4-channel groups as the table holds; the tail channels (and a
   kernel too large for the table) through the portable loops.  Returns the first channel left. */
static uint32_t dsp_blocks(layer_t *l, const uint8_t *x, uint8_t *y)
{
    uint32_t block = 4u * (TABLE_WORDS / group_words(l->g));
    block = block < BLOCK_MAX ? block : BLOCK_MAX;
    uint32_t grouped = l->g->out_c & ~3u;
    if (!lanes_exact(l->p) || block == 0u || l->g->k_h * l->g->k_w > TAPS_MAX) {
        return 0u;
    }
    uint32_t end = l->end;
    for (uint32_t first = 0; first < grouped; first += block) {
        l->first = first;
        l->end = grouped - first < block ? grouped : first + block;
        dsp_pass(l, x, y);
    }
    l->end = end;
    return grouped;
}
#endif

void explore_depthwise_forward_q(const explore_conv_geom_t *g, const explore_conv_q_params_t *p, const uint8_t *x,
                                 const uint8_t *w, const int32_t *bias, uint8_t *y)
{
#ifdef EXPLORE_USE_DSP
    if (explore_depthwise_small_fits(g, p)) {
        explore_depthwise_small(g, p, x, w, bias, y);
        return;
    }
#endif
    explore_requant_t r = explore_requant_prepare(p);
    layer_t l = {g, p, &r, w, bias, 0u, g->out_c};
#ifdef EXPLORE_USE_DSP
    l.first = dsp_blocks(&l, x, y);
#endif
    l.first = table_blocks(&l, x, y);
    if (l.first < l.end) {
        fallback_pass(&l, x, y);
    }
}
