/* Integer depthwise conv forward on ARMv7E-M for small images (the generated designs: a few pixels a
 * side, 1 to 8 channels, 2x2 or 3x3 kernels).  On such layers depthwise_forward_q.c's DSP path spends
 * most of its time on border positions (inside taps found per position) and on the channels past the
 * last group of four (the portable loops).  Here the input is copied once per call into a padded
 * image on the stack: a frame of x_zero pixels around it, every pixel widened to a whole number of
 * four-channel groups.  Then every position is an interior one and every channel is in a group, and
 * one loop without a test serves them all: the lanes past the last channel have zero weights and are
 * not stored.
 *
 * As in depthwise_forward_q.c, modulo 2^32 (all the wrapping bias add asks):
 *   sum (x - zx)(w - zw) + b = sum x (w - zw) + (b - zx sum (w - zw)),
 * and a padding tap reads zx, which adds zx (w - zw): its share of the start value cancels it.
 * UXTB16 widens input bytes (0, 2) (or, rotated, (1, 3)) to 16-bit lanes, SMLABB / SMLATT
 * multiply-accumulate the low / high lanes against the centred weights, one channel each. */
#include <string.h>

#include "dsp.h"
#include "dsp_loops.h"
#include "requant.h"

#ifdef EXPLORE_USE_DSP
/* Stack: the padded image, the weight table (per group: two words per tap and four start values)
   and a run of accumulators: about 1.5 KB, less than depthwise_forward_q.c's DSP path (1.9 KB). */
#define IMAGE_MAX 768u
#define CHANNELS_MAX 16u
#define TAPS_MAX 9u
#define TABLE_MAX ((CHANNELS_MAX / 4u) * (2u * TAPS_MAX + 4u))
#define ACC_MAX 64u     /* accumulators requantized together (positions x channels) */

typedef struct {
    const explore_conv_geom_t *g;
    const uint8_t *image;   /* the padded image */
    uint32_t pixel, row;    /* its bytes per pixel (a multiple of four) and per row */
    uint32_t groups;        /* four-channel groups */
    const uint32_t *table;  /* group after group: (w0, w2), (w1, w3) of each tap, then 4 start values */
} padded_t;

static uint32_t image_width(const explore_conv_geom_t *g)
{
    return (g->out_w - 1u) * g->stride_w + g->k_w;
}

static uint32_t image_height(const explore_conv_geom_t *g)
{
    return (g->out_h - 1u) * g->stride_h + g->k_h;
}

static int small_fits(const explore_conv_geom_t *g, int32_t x_zero, int32_t w_zero)
{
    uint32_t pixel = (g->out_c + 3u) & ~3u;
    /* the lanes hold w - zw and the frame zx exactly only for zero points of uint8 codes */
    return x_zero >= 0 && x_zero <= 255 && w_zero >= 0 && w_zero <= 255 && g->out_c <= CHANNELS_MAX &&
           g->k_h * g->k_w <= TAPS_MAX && image_height(g) * image_width(g) * pixel <= IMAGE_MAX;
}

int explore_depthwise_small_fits(const explore_conv_geom_t *g, const explore_conv_q_params_t *p)
{
    return small_fits(g, p->x_zero, p->w_zero);
}

/* The padded image: padded pixel (r, c) is input pixel (r - pad_top, c - pad_left), or x_zero codes
   outside the input.  A pixel is copied a word at a time where its last word stays inside the input:
   the bytes past its channels land in lanes whose weights are zero. */
static void pad_image(const explore_conv_geom_t *g, const uint8_t *x, uint8_t x_zero, uint32_t pixel, uint8_t *image)
{
    const uint32_t height = image_height(g), width = image_width(g), channels = g->in_c;
    const uint8_t *last_whole = x + g->in_h * g->in_w * channels - pixel;   /* last pixel read as words */
    memset(image, x_zero, height * width * pixel);
    /* the input rows and columns inside the image */
    uint32_t rows = g->in_h < height - g->pad_top ? g->in_h : height - g->pad_top;
    uint32_t cols = g->in_w < width - g->pad_left ? g->in_w : width - g->pad_left;
    for (uint32_t ih = 0; ih < rows; ih++) {
        uint8_t *dst = image + ((ih + g->pad_top) * width + g->pad_left) * pixel;
        const uint8_t *src = x + ih * g->in_w * channels;
        if (pixel == channels) {
            memcpy(dst, src, cols * channels);
            continue;
        }
        for (uint32_t iw = 0; iw < cols; iw++, dst += pixel, src += channels) {
            if (src <= last_whole) {
                for (uint32_t k = 0; k < pixel; k += 4u) {
                    uint32_t v = explore_load4(src + k);
                    memcpy(dst + k, &v, sizeof v);
                }
            } else {
                memcpy(dst, src, channels);
            }
        }
    }
}

/* What a table is built from: the weights (flipped: tap t is the kernel's tap taps - 1 - t), their
   zero point, the input's, the bias (NULL: zero) and the channels kept (NULL: all). */
typedef struct {
    const uint8_t *w;
    int32_t w_zero, x_zero;
    const int32_t *bias;
    const uint8_t *keep;
    int flipped;
} weights_t;

/* The table: per group, for each tap the centred weights of channels (0, 2) and (1, 3) as 16-bit
   lanes, then the start values b - zx sum (w - zw); zeros for the lanes past the last channel and
   for channels not kept (their sums are 0). */
static void build_table(const explore_conv_geom_t *g, const weights_t *k, uint32_t groups, uint32_t *table)
{
    const uint32_t taps = g->k_h * g->k_w, channels = g->out_c, stride = 2u * taps + 4u;
    const int32_t step = k->flipped ? -(int32_t)channels : (int32_t)channels;
    memset(table, 0, groups * stride * sizeof *table);
    for (uint32_t c = 0; c < channels; c++) {
        if (k->keep && !k->keep[c]) {
            continue;
        }
        uint32_t *group = table + (c / 4u) * stride;
        /* channel c's lane among the tap's two words (c0, c2), (c1, c3) */
        int16_t *lane = (int16_t *)(void *)group + (((c & 1u) << 1) | ((c >> 1) & 1u));
        const uint8_t *wc = k->w + c + (k->flipped ? (taps - 1u) * channels : 0u);
        uint32_t sum = 0;
        for (uint32_t tap = 0; tap < taps; tap++, wc += step, lane += 4) {
            int32_t v = (int32_t)*wc - k->w_zero;
            *lane = (int16_t)v;
            sum += (uint32_t)v;
        }
        group[2u * taps + (c & 3u)] = (uint32_t)(k->bias ? k->bias[c] : 0) - (uint32_t)k->x_zero * sum;
    }
}

typedef struct {
    int32_t c0, c1, c2, c3;
} four_t;

/* One tap: the input word of four channels against the tap's two table words. */
EXPLORE_INLINE void tap_mac(const uint8_t *x, const uint32_t *wt, four_t *a)
{
    uint32_t v = explore_load4(x), x02 = explore_bytes02(v), x13 = explore_bytes13(v);
    a->c0 = (int32_t)__smlabb(x02, wt[0], a->c0);
    a->c2 = (int32_t)__smlatt(x02, wt[0], a->c2);
    a->c1 = (int32_t)__smlabb(x13, wt[1], a->c1);
    a->c3 = (int32_t)__smlatt(x13, wt[1], a->c3);
}

/* The windows: x is the window's top left pixel (at the group's channels), wt the group's table. */
EXPLORE_INLINE void window_2x2(const uint8_t *x, uint32_t pixel, uint32_t row, const uint32_t *wt, four_t *a)
{
    tap_mac(x, wt, a);
    tap_mac(x + pixel, wt + 2, a);
    tap_mac(x + row, wt + 4, a);
    tap_mac(x + row + pixel, wt + 6, a);
}

EXPLORE_INLINE void row_of_three(const uint8_t *x, uint32_t pixel, const uint32_t *wt, four_t *a)
{
    tap_mac(x, wt, a);
    tap_mac(x + pixel, wt + 2, a);
    tap_mac(x + 2u * pixel, wt + 4, a);
}

EXPLORE_INLINE void window_3x3(const uint8_t *x, uint32_t pixel, uint32_t row, const uint32_t *wt, four_t *a)
{
    row_of_three(x, pixel, wt, a);
    row_of_three(x + row, pixel, wt + 6, a);
    row_of_three(x + 2u * row, pixel, wt + 12, a);
}

EXPLORE_INLINE void window_1x2(const uint8_t *x, uint32_t pixel, uint32_t row, const uint32_t *wt, four_t *a)
{
    (void)row;
    tap_mac(x, wt, a);
    tap_mac(x + pixel, wt + 2, a);
}

EXPLORE_INLINE void window_1x3(const uint8_t *x, uint32_t pixel, uint32_t row, const uint32_t *wt, four_t *a)
{
    (void)row;
    row_of_three(x, pixel, wt, a);
}

typedef void (*window_t)(const uint8_t *, uint32_t, uint32_t, const uint32_t *, four_t *);

/* The accumulators of count positions along an output row, window of the first at x: every group.
   acc[k * channels + c]; a group's lanes past the last channel land on the next position's first
   channels (written again after) or on the slack of acc.  window is a constant where this is
   inlined below, so its taps unroll. */
EXPLORE_INLINE void row_sums(const padded_t *p, const uint8_t *x, uint32_t count, window_t window, uint32_t taps,
                             int32_t *acc)
{
    const uint32_t pixel = p->pixel, row = p->row, step = p->g->stride_w * pixel, channels = p->g->out_c;
    const uint32_t stride = 2u * taps + 4u, groups = p->groups;
    for (; count; count--, x += step, acc += channels) {
        const uint32_t *wt = p->table;
        const uint8_t *xg = x;
        int32_t *out = acc;
        for (uint32_t n = groups; n; n--, wt += stride, xg += 4, out += 4) {
            four_t a = {(int32_t)wt[stride - 4u], (int32_t)wt[stride - 3u], (int32_t)wt[stride - 2u],
                        (int32_t)wt[stride - 1u]};
            window(xg, pixel, row, wt, &a);
            out[0] = a.c0;
            out[1] = a.c1;
            out[2] = a.c2;
            out[3] = a.c3;
        }
    }
}

EXPLORE_INNER_LOOP void row_sums_2x2(const padded_t *p, const uint8_t *x, uint32_t count, int32_t *acc)
{
    row_sums(p, x, count, window_2x2, 4u, acc);
}

EXPLORE_INNER_LOOP void row_sums_3x3(const padded_t *p, const uint8_t *x, uint32_t count, int32_t *acc)
{
    row_sums(p, x, count, window_3x3, 9u, acc);
}

EXPLORE_INNER_LOOP void row_sums_1x2(const padded_t *p, const uint8_t *x, uint32_t count, int32_t *acc)
{
    row_sums(p, x, count, window_1x2, 2u, acc);
}

EXPLORE_INNER_LOOP void row_sums_1x3(const padded_t *p, const uint8_t *x, uint32_t count, int32_t *acc)
{
    row_sums(p, x, count, window_1x3, 3u, acc);
}

/* Any other kernel: its taps in a loop. */
EXPLORE_INNER_LOOP void row_sums_any(const padded_t *p, const uint8_t *x, uint32_t count, int32_t *acc)
{
    const explore_conv_geom_t *g = p->g;
    const uint32_t pixel = p->pixel, step = g->stride_w * pixel, taps = g->k_h * g->k_w, stride = 2u * taps + 4u;
    for (; count; count--, x += step, acc += g->out_c) {
        const uint32_t *wt = p->table;
        for (uint32_t group = 0; group < p->groups; group++, wt += stride) {
            four_t a = {(int32_t)wt[stride - 4u], (int32_t)wt[stride - 3u], (int32_t)wt[stride - 2u],
                        (int32_t)wt[stride - 1u]};
            const uint8_t *xr = x + 4u * group;
            const uint32_t *wp = wt;
            for (uint32_t kh = 0; kh < g->k_h; kh++, xr += p->row) {
                for (uint32_t kw = 0; kw < g->k_w; kw++, wp += 2) {
                    tap_mac(xr + kw * pixel, wp, &a);
                }
            }
            memcpy(acc + 4u * group, &a, sizeof a);
        }
    }
}

typedef void (*row_sums_t)(const padded_t *, const uint8_t *, uint32_t, int32_t *);

static row_sums_t row_sums_for(const explore_conv_geom_t *g)
{
    if (g->k_h == 2u && g->k_w == 2u) {
        return row_sums_2x2;
    }
    if (g->k_h == 3u && g->k_w == 3u) {
        return row_sums_3x3;
    }
    if (g->k_h == 1u && g->k_w == 2u) {
        return row_sums_1x2;
    }
    if (g->k_h == 1u && g->k_w == 3u) {
        return row_sums_1x3;
    }
    return row_sums_any;
}

/* y[k] = requantized acc[k] for n accumulators; parameters in registers. */
EXPLORE_INNER_LOOP void requant_run(const explore_requant_t *rq, const int32_t *acc, uint32_t n, uint8_t *y)
{
    const explore_requant_t r = *rq;   /* a local: the byte stores cannot alias it */
    for (uint32_t k = 0; k < n; k++) {
        y[k] = explore_requant(&r, acc[k]);
    }
}

/* The same for sums below 2^30 (requant.h), with any clamp or the full [0, 255]. */
EXPLORE_INNER_LOOP void requant_small(const explore_requant_t *rq, const int32_t *acc, uint32_t n, uint8_t *y)
{
    explore_requant_small(rq, acc, n, y, 0);
}

EXPLORE_INNER_LOOP void requant_small_full(const explore_requant_t *rq, const int32_t *acc, uint32_t n, uint8_t *y)
{
    explore_requant_small(rq, acc, n, y, 1);
}

/* The sums' terms: at most TAPS_MAX products below 2^16 each, and the start value's zx sum (w - zw)
   as much again. */
#define TERMS_MAX (2 * (int32_t)TAPS_MAX * 65536)

void explore_depthwise_small(const explore_conv_geom_t *g, const explore_conv_q_params_t *p, const uint8_t *x,
                             const uint8_t *w, const int32_t *bias, uint8_t *y)
{
    const uint32_t pixel = (g->out_c + 3u) & ~3u, groups = pixel / 4u;
    const explore_requant_t rq = explore_requant_prepare(p);
    const int small = explore_requant_small_fits(&rq, bias, g->out_c, TERMS_MAX);
    uint32_t image[IMAGE_MAX / 4u];   /* words: the four-byte loads of a pixel are aligned */
    uint32_t table[TABLE_MAX];
    int32_t acc[ACC_MAX + 3u];        /* + the last group's lanes past the last channel */
    const weights_t k = {w, p->w_zero, p->x_zero, bias, NULL, 0};
    pad_image(g, x, (uint8_t)p->x_zero, pixel, (uint8_t *)image);
    build_table(g, &k, groups, table);
    const padded_t pad = {g, (const uint8_t *)image, pixel, image_width(g) * pixel, groups, table};
    const row_sums_t sums = row_sums_for(g);
    const uint32_t batch = ACC_MAX / g->out_c;
    for (uint32_t oh = 0; oh < g->out_h; oh++) {
        const uint8_t *row = pad.image + oh * g->stride_h * pad.row;
        uint8_t *out = y + oh * g->out_w * g->out_c;
        for (uint32_t ow = 0; ow < g->out_w; ow += batch) {
            uint32_t count = g->out_w - ow < batch ? g->out_w - ow : batch;
            sums(&pad, row + ow * g->stride_w * pixel, count, acc);
            if (small && rq.low == 0 && rq.high == 255) {
                requant_small_full(&rq, acc, count * g->out_c, out + ow * g->out_c);
            } else if (small) {
                requant_small(&rq, acc, count * g->out_c, out + ow * g->out_c);
            } else {
                requant_run(&rq, acc, count * g->out_c, out + ow * g->out_c);
            }
        }
    }
}
/* The input error of a small stride-1 depthwise layer: input (ih, iw) receives through tap (kh, kw)
   the error of output (ih + pad_top - kh, iw + pad_left - kw), so with the kernel flipped it is this
   file's depthwise conv over the error map (padding k - 1 - pad, frame ze), channel by channel, the
   sums kept as they are.  A channel not kept has zero weights: its sums are 0. */
int explore_depthwise_input_error_small(const explore_conv_geom_t *g, const uint8_t *e, int32_t e_zero,
                                        const uint8_t *w, int32_t w_zero, const uint16_t *kept, uint32_t num_kept,
                                        int32_t *acc)
{
    if (!g->depthwise || g->stride_h != 1u || g->stride_w != 1u || g->pad_top >= g->k_h || g->pad_left >= g->k_w) {
        return 0;
    }
    explore_conv_geom_t f = *g;
    f.in_h = g->out_h;
    f.in_w = g->out_w;
    f.out_h = g->in_h;
    f.out_w = g->in_w;
    f.pad_top = g->k_h - 1u - g->pad_top;
    f.pad_left = g->k_w - 1u - g->pad_left;
    if (!small_fits(&f, e_zero, w_zero)) {
        return 0;
    }
    uint8_t keep[CHANNELS_MAX];
    for (uint32_t c = 0, next = 0; c < g->out_c; c++) {
        keep[c] = next < num_kept && (kept ? kept[next] : next) == c;
        next += keep[c];
    }
    const uint32_t pixel = (f.out_c + 3u) & ~3u, groups = pixel / 4u, channels = f.out_c;
    uint32_t image[IMAGE_MAX / 4u];
    uint32_t table[TABLE_MAX];
    int32_t sums[ACC_MAX + 3u];   /* + the last group's lanes past the last channel */
    const weights_t k = {w, w_zero, e_zero, NULL, keep, 1};
    pad_image(&f, e, (uint8_t)e_zero, pixel, (uint8_t *)image);
    build_table(&f, &k, groups, table);
    const padded_t pad = {&f, (const uint8_t *)image, pixel, image_width(&f) * pixel, groups, table};
    const row_sums_t row_sums = row_sums_for(&f);
    const uint32_t batch = ACC_MAX / channels;
    for (uint32_t oh = 0; oh < f.out_h; oh++) {
        for (uint32_t ow = 0; ow < f.out_w; ow += batch) {
            uint32_t count = f.out_w - ow < batch ? f.out_w - ow : batch;
            row_sums(&pad, pad.image + oh * pad.row + ow * pixel, count, sums);
            memcpy(acc + (oh * f.out_w + ow) * channels, sums, count * channels * sizeof *sums);
        }
    }
    return 1;
}
#endif
