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

/* The inside taps of one output position: `rows` x `cols` taps starting at input pixel x and
   weight tap w (channel 0 of both); the steps move one tap right (col) or down (row). */
typedef struct {
    const uint8_t *x, *w;
    uint32_t rows, cols;
    uint32_t x_col, x_row, w_col, w_row;
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

/* One channel over the window (also the DSP path's tail channels). */
static int32_t channel_dot(const window_t *t, const uint8_t *x, const uint8_t *w, int32_t x_zero, int32_t w_zero)
{
    int32_t acc = 0;
    for (uint32_t r = t->rows; r; r--, x += t->x_row, w += t->w_row) {
        const uint8_t *xp = x, *wp = w;
        for (uint32_t n = t->cols; n; n--, xp += t->x_col, wp += t->w_col) {
            acc += ((int32_t)*xp - x_zero) * ((int32_t)*wp - w_zero);
        }
    }
    return acc;
}

#ifdef EXPLORE_USE_DSP
/* Four channels per word: UXTAB16 widens bytes (0, 2) (or, rotated, (1, 3)) to 16-bit lanes and
   adds the negated zero point in the same instruction; SMLABB / SMLATT then multiply-accumulate
   the low / high lanes, one channel each.  All lane values are exact: |x - zx| <= 255. */
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

typedef struct {
    int32_t c0, c1, c2, c3;
} four_t;

EXPLORE_INLINE void tap_mac(const uint8_t *x, const uint8_t *w, uint32_t minus_zx, uint32_t minus_zw, four_t *a)
{
    uint32_t xv = explore_load4(x), wv = explore_load4(w);
    uint32_t x02 = centred02(minus_zx, xv), w02 = centred02(minus_zw, wv);
    uint32_t x13 = centred13(minus_zx, xv), w13 = centred13(minus_zw, wv);
    a->c0 = (int32_t)__smlabb(x02, w02, a->c0);
    a->c2 = (int32_t)__smlatt(x02, w02, a->c2);
    a->c1 = (int32_t)__smlabb(x13, w13, a->c1);
    a->c3 = (int32_t)__smlatt(x13, w13, a->c3);
}

/* Channels c..c+3 over the window; a row of three taps (the interior of a 3x3 or 1x3 kernel)
   is unrolled, other rows loop. */
EXPLORE_INLINE four_t group_dot(const window_t *t, const uint8_t *x, const uint8_t *w, uint32_t minus_zx,
                                uint32_t minus_zw)
{
    four_t a = {0, 0, 0, 0};
    for (uint32_t r = t->rows; r; r--, x += t->x_row, w += t->w_row) {
        if (t->cols == 3u) {
            tap_mac(x, w, minus_zx, minus_zw, &a);
            tap_mac(x + t->x_col, w + t->w_col, minus_zx, minus_zw, &a);
            tap_mac(x + 2u * t->x_col, w + 2u * t->w_col, minus_zx, minus_zw, &a);
            continue;
        }
        const uint8_t *xp = x, *wp = w;
        for (uint32_t n = t->cols; n; n--, xp += t->x_col, wp += t->w_col) {
            tap_mac(xp, wp, minus_zx, minus_zw, &a);
        }
    }
    return a;
}

/* Both zero points as two 16-bit lanes of their negation. */
static uint32_t minus_pair(int32_t zero)
{
    return ((uint32_t)-zero & 0xFFFFu) * 0x10001u;
}

/* The lanes hold x - zx exactly only for zero points of uint8 codes (always so for a bundle). */
static int lanes_exact(const explore_conv_q_params_t *p)
{
    return p->x_zero >= 0 && p->x_zero <= 255 && p->w_zero >= 0 && p->w_zero <= 255;
}

EXPLORE_INLINE void position_dsp(const window_t *t, const explore_conv_q_params_t *p, const explore_requant_t *r,
                                 const int32_t *bias, uint32_t channels, uint8_t *y)
{
    uint32_t minus_zx = minus_pair(p->x_zero), minus_zw = minus_pair(p->w_zero);
    uint32_t c = 0;
    for (; c + 4u <= channels; c += 4u) {
        four_t a = group_dot(t, t->x + c, t->w + c, minus_zx, minus_zw);
        y[c] = explore_requant(r, add_wrapping(a.c0, bias[c]));
        y[c + 1u] = explore_requant(r, add_wrapping(a.c1, bias[c + 1u]));
        y[c + 2u] = explore_requant(r, add_wrapping(a.c2, bias[c + 2u]));
        y[c + 3u] = explore_requant(r, add_wrapping(a.c3, bias[c + 3u]));
    }
    for (; c < channels; c++) {
        y[c] = explore_requant(r, add_wrapping(channel_dot(t, t->x + c, t->w + c, p->x_zero, p->w_zero), bias[c]));
    }
}

EXPLORE_INNER_LOOP void position_dsp_any(const window_t *t, const explore_conv_q_params_t *p,
                                         const explore_requant_t *r, const int32_t *bias, uint32_t channels,
                                         uint8_t *y)
{
    position_dsp(t, p, r, bias, channels, y);
}

EXPLORE_INNER_LOOP void position_dsp_right(const window_t *t, const explore_conv_q_params_t *p,
                                           const explore_requant_t *r, const int32_t *bias, uint32_t channels,
                                           uint8_t *y)
{
    explore_requant_t right = right_shift_only(r);
    position_dsp(t, p, &right, bias, channels, y);
}
#endif

/* Channel by channel, taps innermost with pointer steps (the portable loops). */
EXPLORE_INLINE void position_portable(const window_t *t, const explore_conv_q_params_t *p,
                                      const explore_requant_t *r, const int32_t *bias, uint32_t channels, uint8_t *y)
{
    int32_t x_zero = p->x_zero, w_zero = p->w_zero;
    for (uint32_t c = 0; c < channels; c++) {
        y[c] = explore_requant(r, add_wrapping(channel_dot(t, t->x + c, t->w + c, x_zero, w_zero), bias[c]));
    }
}

EXPLORE_INNER_LOOP void position_portable_any(const window_t *t, const explore_conv_q_params_t *p,
                                              const explore_requant_t *r, const int32_t *bias, uint32_t channels,
                                              uint8_t *y)
{
    position_portable(t, p, r, bias, channels, y);
}

EXPLORE_INNER_LOOP void position_portable_right(const window_t *t, const explore_conv_q_params_t *p,
                                                const explore_requant_t *r, const int32_t *bias, uint32_t channels,
                                                uint8_t *y)
{
    explore_requant_t right = right_shift_only(r);
    position_portable(t, p, &right, bias, channels, y);
}

/* One output position: every channel, through the variant that fits the layer. */
typedef void position_fn(const window_t *t, const explore_conv_q_params_t *p, const explore_requant_t *r,
                         const int32_t *bias, uint32_t channels, uint8_t *y);

static position_fn *choose_position(const explore_conv_q_params_t *p, const explore_requant_t *r)
{
    int right = r->left == 0u;
#ifdef EXPLORE_USE_DSP
    if (lanes_exact(p)) {
        return right ? position_dsp_right : position_dsp_any;
    }
#else
    (void)p;
#endif
    return right ? position_portable_right : position_portable_any;
}

void explore_depthwise_forward_q(const explore_conv_geom_t *g, const explore_conv_q_params_t *p, const uint8_t *x,
                                 const uint8_t *w, const int32_t *bias, uint8_t *y)
{
    explore_requant_t r = explore_requant_prepare(p);
    uint32_t channels = g->out_c;
    window_t t;
    t.x_col = g->in_c;
    t.x_row = g->in_w * g->in_c;
    t.w_col = channels;
    t.w_row = g->k_w * channels;
    position_fn *position = choose_position(p, &r);
    for (uint32_t oh = 0; oh < g->out_h; oh++) {
        int32_t top = (int32_t)(oh * g->stride_h) - (int32_t)g->pad_top;
        uint32_t kh0, kh1;
        inside_taps(top, g->k_h, g->in_h, &kh0, &kh1);
        t.rows = kh1 - kh0;
        for (uint32_t ow = 0; ow < g->out_w; ow++) {
            int32_t left = (int32_t)(ow * g->stride_w) - (int32_t)g->pad_left;
            uint32_t kw0, kw1;
            inside_taps(left, g->k_w, g->in_w, &kw0, &kw1);
            t.cols = kw1 - kw0;
            /* pointers are formed only for a non-empty window (an empty one may lie outside x) */
            int inside = t.rows && t.cols;
            t.x = inside ? x + (uint32_t)((top + (int32_t)kh0) * (int32_t)g->in_w + left + (int32_t)kw0) * g->in_c : x;
            t.w = inside ? w + (kh0 * g->k_w + kw0) * channels : w;
            uint8_t *yp = y + (oh * g->out_w + ow) * channels;
            position(&t, p, &r, bias, channels, yp);
        }
    }
}
