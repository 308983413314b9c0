/* Integer depthwise conv forward (design 2): for every channel c,
 * y = clamp(MBQM(sum over the taps of (x - zx)(w - zw) + b) + zy), int32 sum, wrapping bias add.
 * Weights are in Flax layout (kh, kw, 1, C): the C channels of a tap are contiguous, like the C
 * channels of an input pixel (HWC), so both walk channels with the same unit stride.
 *
 * Padding taps are not visited: there (x - zx) = 0, so they add nothing.  The taps that fall
 * inside the input form a rectangle per output position; it is computed once per position, and
 * the channel loops below it test nothing. */
#include "dsp.h"
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

/* One channel over the window, taps innermost with pointer steps (the portable loop, and the DSP
   path's tail channels). */
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

EXPLORE_INLINE void position_portable(const layer_t *l, const explore_requant_t *r, const window_t *t, uint8_t *y)
{
    uint32_t channels = l->g->out_c;
    int32_t x_zero = l->p->x_zero, w_zero = l->p->w_zero;
    const uint8_t *w = l->w + t->tap0 * channels;
    for (uint32_t c = l->first; c < l->end; c++) {
        int32_t acc = channel_dot(t, t->x + c, w + c, channels, l->g->k_w * channels, x_zero, w_zero);
        y[c] = explore_requant(r, add_wrapping(acc, l->bias[c]));
    }
}

EXPLORE_INNER_LOOP void position_portable_any(const layer_t *l, const window_t *t, uint8_t *y)
{
    position_portable(l, l->r, t, y);
}

EXPLORE_INNER_LOOP void position_portable_right(const layer_t *l, const window_t *t, uint8_t *y)
{
    explore_requant_t right = right_shift_only(l->r);
    position_portable(l, &right, t, y);
}

/* Channels [l->first, l->end) of every output position. */
static void portable_pass(const layer_t *l, const uint8_t *x, uint8_t *y)
{
    const explore_conv_geom_t *g = l->g;
    int right = l->r->left == 0u;
    for (uint32_t oh = 0; oh < g->out_h; oh++) {
        for (uint32_t ow = 0; ow < g->out_w; ow++) {
            window_t t = window_at(g, x, oh, ow);
            uint8_t *yp = y + (oh * g->out_w + ow) * g->out_c;
            if (right) {
                position_portable_right(l, &t, yp);
            } else {
                position_portable_any(l, &t, yp);
            }
        }
    }
}

#ifdef EXPLORE_USE_DSP
/* Four channels per word.  UXTAB16 widens bytes (0, 2) (or, rotated, (1, 3)) to 16-bit lanes and
   adds the negated zero point in the same instruction; SMLABB / SMLATT then multiply-accumulate
   the low / high lanes, one channel each.  Lane values are exact: |x - zx|, |w - zw| <= 255.
   The weights, the same for every position, are widened once per call into a table on the stack
   (TABLE_WORDS words), so a tap costs one input load, two UXTAB16, one LDRD and four MACs. */
#define TABLE_WORDS 256u

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

/* The lanes hold x - zx exactly only for zero points of uint8 codes (always so for a bundle). */
static int lanes_exact(const explore_conv_q_params_t *p)
{
    return p->x_zero >= 0 && p->x_zero <= 255 && p->w_zero >= 0 && p->w_zero <= 255;
}

/* Centred weights of the channel groups starting at channel `first`, group after group:
   table[2 * (group * taps + tap)] holds channels (0, 2) of the group, the next word (1, 3). */
static void widen_weights(const layer_t *l, uint32_t groups, uint32_t *table)
{
    uint32_t taps = l->g->k_h * l->g->k_w, channels = l->g->out_c;
    uint32_t minus_zw = minus_pair(l->p->w_zero);
    for (uint32_t group = 0; group < groups; group++) {
        const uint8_t *w = l->w + l->first + 4u * group;
        for (uint32_t tap = 0; tap < taps; tap++, w += channels, table += 2) {
            uint32_t v = explore_load4(w);
            table[0] = centred02(minus_zw, v);
            table[1] = centred13(minus_zw, v);
        }
    }
}

typedef struct {
    int32_t c0, c1, c2, c3;
} four_t;

EXPLORE_INLINE void tap_mac(const uint8_t *x, const uint32_t *wt, uint32_t minus_zx, four_t *a)
{
    uint32_t xv = explore_load4(x);
    uint32_t x02 = centred02(minus_zx, xv), x13 = centred13(minus_zx, xv);
    a->c0 = (int32_t)__smlabb(x02, wt[0], a->c0);
    a->c2 = (int32_t)__smlatt(x02, wt[0], a->c2);
    a->c1 = (int32_t)__smlabb(x13, wt[1], a->c1);
    a->c3 = (int32_t)__smlatt(x13, wt[1], a->c3);
}

/* A whole 3x3 kernel inside the input (every interior position of a 3x3 layer): fully unrolled,
   the weight table at fixed offsets. */
EXPLORE_INLINE four_t dot_3x3(const window_t *t, const uint8_t *x, const uint32_t *wt, uint32_t minus_zx)
{
    four_t a = {0, 0, 0, 0};
    uint32_t col = t->x_col, row = t->x_row;
    for (uint32_t r = 0; r < 3u; r++, x += row, wt += 6) {
        tap_mac(x, wt, minus_zx, &a);
        tap_mac(x + col, wt + 2, minus_zx, &a);
        tap_mac(x + 2u * col, wt + 4, minus_zx, &a);
    }
    return a;
}

/* Any window (borders, other kernel sizes, 1xk). */
EXPLORE_INLINE four_t dot_window(const window_t *t, const uint8_t *x, const uint32_t *wt, uint32_t k_w,
                                 uint32_t minus_zx)
{
    four_t a = {0, 0, 0, 0};
    for (uint32_t r = t->rows; r; r--, x += t->x_row, wt += 2u * k_w) {
        const uint8_t *xp = x;
        const uint32_t *wp = wt;
        for (uint32_t n = t->cols; n; n--, xp += t->x_col, wp += 2) {
            tap_mac(xp, wp, minus_zx, &a);
        }
    }
    return a;
}

EXPLORE_INLINE void requant_four(const explore_requant_t *r, four_t a, const int32_t *bias, uint8_t *y)
{
    y[0] = explore_requant(r, add_wrapping(a.c0, bias[0]));
    y[1] = explore_requant(r, add_wrapping(a.c1, bias[1]));
    y[2] = explore_requant(r, add_wrapping(a.c2, bias[2]));
    y[3] = explore_requant(r, add_wrapping(a.c3, bias[3]));
}

/* Channel groups [l->first, l->end) of one position, their weights in `table`. */
EXPLORE_INLINE void position_dsp(const layer_t *l, const explore_requant_t *r, const uint32_t *table,
                                 const window_t *t, uint8_t *y)
{
    uint32_t taps = l->g->k_h * l->g->k_w, k_w = l->g->k_w;
    uint32_t minus_zx = minus_pair(l->p->x_zero);
    const uint32_t *wt = table + 2u * t->tap0;
    int whole_3x3 = taps == 9u && t->rows == 3u && t->cols == 3u;
    for (uint32_t c = l->first; c < l->end; c += 4u, wt += 2u * taps) {
        four_t a = whole_3x3 ? dot_3x3(t, t->x + c, wt, minus_zx) : dot_window(t, t->x + c, wt, k_w, minus_zx);
        requant_four(r, a, l->bias + c, y + c);
    }
}

EXPLORE_INNER_LOOP void position_dsp_any(const layer_t *l, const uint32_t *table, const window_t *t, uint8_t *y)
{
    position_dsp(l, l->r, table, t, y);
}

EXPLORE_INNER_LOOP void position_dsp_right(const layer_t *l, const uint32_t *table, const window_t *t, uint8_t *y)
{
    explore_requant_t right = right_shift_only(l->r);
    position_dsp(l, &right, table, t, y);
}

/* Channel groups [l->first, l->end) (a multiple of four channels whose table fits) everywhere. */
static void dsp_pass(const layer_t *l, const uint8_t *x, uint8_t *y)
{
    const explore_conv_geom_t *g = l->g;
    uint32_t table[TABLE_WORDS];
    widen_weights(l, (l->end - l->first) / 4u, table);
    int right = l->r->left == 0u;
    for (uint32_t oh = 0; oh < g->out_h; oh++) {
        for (uint32_t ow = 0; ow < g->out_w; ow++) {
            window_t t = window_at(g, x, oh, ow);
            uint8_t *yp = y + (oh * g->out_w + ow) * g->out_c;
            if (right) {
                position_dsp_right(l, table, &t, yp);
            } else {
                position_dsp_any(l, table, &t, yp);
            }
        }
    }
}

/* Channels in blocks of as many 4-channel groups as the table holds; the tail channels (and a
   kernel too large for the table) through the portable loops.  Returns the first channel left. */
static uint32_t dsp_blocks(layer_t *l, const uint8_t *x, uint8_t *y)
{
    uint32_t words_per_group = 2u * l->g->k_h * l->g->k_w;
    uint32_t block = 4u * (TABLE_WORDS / words_per_group);
    uint32_t grouped = l->g->out_c & ~3u;
    if (!lanes_exact(l->p) || block == 0u) {
        return 0u;
    }
    for (uint32_t first = 0; first < grouped; first += block) {
        l->first = first;
        l->end = grouped - first < block ? grouped : first + block;
        dsp_pass(l, x, y);
    }
    return grouped;
}
#endif

void explore_depthwise_forward_q(const explore_conv_geom_t *g, const explore_conv_q_params_t *p, const uint8_t *x,
                                 const uint8_t *w, const int32_t *bias, uint8_t *y)
{
    explore_requant_t r = explore_requant_prepare(p);
    layer_t l = {g, p, &r, w, bias, 0u, g->out_c};
#ifdef EXPLORE_USE_DSP
    l.first = dsp_blocks(&l, x, y);
    l.end = g->out_c;
#endif
    if (l.first < l.end) {
        portable_pass(&l, x, y);
    }
}
