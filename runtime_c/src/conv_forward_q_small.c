/* Integer conv forward on ARMv7E-M (SMLAD) for small layers: few output channels, a short fan-in
 * (the generated designs: images of a few pixels, 1 to 8 channels, odd counts, kernels up to 3x3).
 * On such layers the per-position costs of conv_forward_q_dsp.c dominate (widening each patch
 * element, the scalar paths of an odd channel or a fan-in not a multiple of four).  Here the
 * weights, few, are regrouped once per call into a table on the stack with their zero point taken
 * off, and each position's patch is the raw input bytes (padding taps set to zx): a copy, or no
 * copy at all where the patch is one run of the input (a 1x1 or 1xk kernel inside the image).
 *
 * With w' = w - zw over the whole fan-in (a padding tap x = zx contributes nothing):
 *   sum (x - zx)(w - zw) = sum x w' - zx sum_j w'[j][c]
 * and the second term joins the bias as a per-channel constant, the accumulators' start.
 * All terms are added modulo 2^32, like the portable loops' int32 wrap-around. */
#include <string.h>

#include "dsp.h"
#include "dsp_loops.h"
#include "requant.h"

#ifdef EXPLORE_USE_DSP
/* Table entries (fan-in rounded up to four, times output channels): 2 KB of int16 on the stack. */
#define TABLE_MAX 1024u
/* Fan-in (rounded up to four) and output channels this path takes. */
#define FAN_MAX 256u
#define CHANNELS_MAX 32u
/* Positions below which building the table does not pay (a dense layer is one). */
#define POSITIONS_MIN 4u
/* Accumulators requantized together (positions x channels). */
#define ACC_MAX 64u

/* Bytes of the padded copy of a small input (see gather); larger inputs are gathered from x. */
#define IMAGE_MAX 512u

typedef struct {
    const explore_conv_geom_t *g;
    const uint8_t *x, *x_end;
    uint32_t fan, quads;
    int32_t x_zero, w_zero;
    int contiguous;   /* a patch inside the image is one run of the input */
    const uint8_t *image;   /* the padded copy, or NULL */
    uint32_t image_row;     /* its bytes per row */
} small_t;

/* Four channels' words of one quad of rows j..j+3 (row j at row): a word load per row, the lanes
   regrouped by UXTB16 and PKHBT / PKHTB (half the instructions of eight pairs of byte loads). */
EXPLORE_INLINE void quad_of_four(const uint8_t *row, uint32_t out_c, uint32_t minus_zero, uint32_t *dst)
{
    uint32_t r0 = explore_load4(row), r1 = explore_load4(row + out_c);
    uint32_t r2 = explore_load4(row + 2u * out_c), r3 = explore_load4(row + 3u * out_c);
    uint32_t e0 = explore_bytes02(r0), e1 = explore_bytes02(r1), e2 = explore_bytes02(r2), e3 = explore_bytes02(r3);
    uint32_t o0 = explore_bytes13(r0), o1 = explore_bytes13(r1), o2 = explore_bytes13(r2), o3 = explore_bytes13(r3);
    dst[0] = __uadd16(explore_pack_lo(e0, e2), minus_zero);   /* channel 0: rows (j, j+2), then (j+1, j+3) */
    dst[1] = __uadd16(explore_pack_lo(e1, e3), minus_zero);
    dst[2] = __uadd16(explore_pack_lo(o0, o2), minus_zero);   /* channel 1 */
    dst[3] = __uadd16(explore_pack_lo(o1, o3), minus_zero);
    dst[4] = __uadd16(explore_pack_hi(e0, e2), minus_zero);   /* channel 2 */
    dst[5] = __uadd16(explore_pack_hi(e1, e3), minus_zero);
    dst[6] = __uadd16(explore_pack_hi(o0, o2), minus_zero);   /* channel 3 */
    dst[7] = __uadd16(explore_pack_hi(o1, o3), minus_zero);
}

/* Channels [c0, c0 + width) as width-wide groups of quads: for quad q and channel c, the words
   (w[4q][c], w[4q+2][c]) and (w[4q+1][c], w[4q+3][c]), the pairing of UXTB16 on four patch bytes.
   Entries are w - zw; rows past the fan-in are zero. */
static void build_group(const small_t *f, const uint8_t *w, uint32_t c0, uint32_t width, int16_t *table)
{
    const uint32_t out_c = f->g->out_c, whole = f->fan / 4u;
    /* minus zw in both 16-bit lanes: the lanes' sums stay in range, so one 32-bit add does both */
    const uint32_t minus_zero = explore_pair(-f->w_zero, -f->w_zero);
    uint32_t *dst = (uint32_t *)(void *)table;
    const uint8_t *row = w + c0;
    for (uint32_t q = 0; q < whole && width == 4u; q++, row += 4u * out_c, dst += 8) {
        quad_of_four(row, out_c, minus_zero, dst);
    }
    for (uint32_t q = 0; q < whole && width != 4u; q++, row += 4u * out_c) {
        for (uint32_t i = 0; i < width; i++, dst += 2) {
            dst[0] = __uadd16((uint32_t)row[i] | ((uint32_t)row[i + 2u * out_c] << 16), minus_zero);
            dst[1] = __uadd16((uint32_t)row[i + out_c] | ((uint32_t)row[i + 3u * out_c] << 16), minus_zero);
        }
    }
    if (whole < f->quads) {   /* the last quad, part of it past the fan-in */
        const uint32_t rows = f->fan - 4u * whole;
        for (uint32_t i = 0; i < width; i++, dst += 2) {
            int32_t v[4] = {0, 0, 0, 0};
            for (uint32_t r = 0; r < rows; r++) {
                v[r] = (int32_t)row[i + r * out_c] - f->w_zero;
            }
            dst[0] = explore_pair(v[0], v[2]);
            dst[1] = explore_pair(v[1], v[3]);
        }
    }
}

/* n bytes of value v: padding runs are a few bytes, shorter than a call of memset. */
EXPLORE_INLINE void fill(uint8_t *dst, uint32_t n, uint8_t v)
{
    for (uint32_t k = 0; k < n; k++) {
        dst[k] = v;
    }
}

/* The padded copy of the input read by the positions: (out - 1) * stride + k pixels a side, input
   pixel (r, c) at (r + pad_top, c + pad_left), x_zero codes around it and in the SLACK bytes after
   it (a patch's last quad reads up to three bytes past its end).  Every position's patch is then k_h
   runs of k_w * in_c bytes at one stride, with no test of the image's edges. */
#define SLACK 4u

static uint32_t image_width(const explore_conv_geom_t *g)
{
    return (g->out_w - 1u) * g->stride_w + g->k_w;
}

static uint32_t image_height(const explore_conv_geom_t *g)
{
    return (g->out_h - 1u) * g->stride_h + g->k_h;
}

static int image_fits(const explore_conv_geom_t *g)
{
    return image_height(g) * image_width(g) * g->in_c + SLACK <= IMAGE_MAX;
}

static void pad_image(const explore_conv_geom_t *g, const uint8_t *x, uint8_t x_zero, uint8_t *image)
{
    const uint32_t height = image_height(g), width = image_width(g), row = width * g->in_c;
    memset(image, x_zero, height * row + SLACK);
    uint32_t rows = g->in_h < height - g->pad_top ? g->in_h : height - g->pad_top;
    uint32_t cols = g->in_w < width - g->pad_left ? g->in_w : width - g->pad_left;
    for (uint32_t ih = 0; ih < rows; ih++) {
        memcpy(image + (ih + g->pad_top) * row + g->pad_left * g->in_c, x + ih * g->in_w * g->in_c, cols * g->in_c);
    }
}

/* gather from the padded copy: the k_h runs a word at a time (a run's last word spills into the
   next run's place, written after it; the last one's into patch bytes that the table's zero rows
   ignore).  A single run (k_h 1, or runs as wide as the image's rows) is the image itself. */
static const uint8_t *gather_padded(const small_t *f, uint32_t oh, uint32_t ow, uint8_t *patch)
{
    const explore_conv_geom_t *g = f->g;
    const uint32_t row = f->image_row, run = g->k_w * g->in_c;
    const uint8_t *src = f->image + oh * g->stride_h * row + ow * g->stride_w * g->in_c;
    if (g->k_h == 1u || run == row) {
        return src;
    }
    uint8_t *dst = patch;
    for (uint32_t kh = g->k_h; kh; kh--, src += row, dst += run) {
        for (uint32_t k = 0; k < run; k += 4u) {
            uint32_t v = explore_load4(src + k);
            memcpy(dst + k, &v, sizeof v);
        }
    }
    return patch;
}

/* The raw patch of position (oh, ow): fan bytes, padding taps zx, then bytes that the table's zero
   rows ignore.  Returns the input itself where the patch is one run of it (and its last quad
   stays inside the input), else patch, filled. */
static const uint8_t *gather(const small_t *f, uint32_t oh, uint32_t ow, uint8_t *patch)
{
    if (f->image) {
        return gather_padded(f, oh, ow, patch);
    }
    const explore_conv_geom_t g = *f->g;   /* a local: the patch stores cannot alias it */
    const uint8_t pad = (uint8_t)f->x_zero;
    int32_t row0 = (int32_t)(oh * g.stride_h) - (int32_t)g.pad_top;
    int32_t col0 = (int32_t)(ow * g.stride_w) - (int32_t)g.pad_left;
    if (f->contiguous && row0 >= 0 && col0 >= 0 && (uint32_t)row0 + g.k_h <= g.in_h &&
        (uint32_t)col0 + g.k_w <= g.in_w) {
        const uint8_t *src = f->x + ((uint32_t)row0 * g.in_w + (uint32_t)col0) * g.in_c;
        if (src + 4u * f->quads <= f->x_end) {
            return src;
        }
    }
    uint32_t kw0 = col0 < 0 ? (uint32_t)-col0 : 0u;
    int32_t right = (int32_t)g.in_w - col0;
    uint32_t kw1 = right < (int32_t)g.k_w ? (right > 0 ? (uint32_t)right : 0u) : g.k_w;
    kw1 = kw1 > kw0 ? kw1 : kw0;
    const uint32_t row_len = g.k_w * g.in_c, before = kw0 * g.in_c, run = (kw1 - kw0) * g.in_c;
    uint8_t *dst = patch;
    for (uint32_t kh = 0; kh < g.k_h; kh++, dst += row_len) {
        uint32_t ih = (uint32_t)(row0 + (int32_t)kh);
        if (ih >= g.in_h || run == 0) {
            fill(dst, row_len, pad);
            continue;
        }
        const uint8_t *src = f->x + (ih * g.in_w + (uint32_t)(col0 + (int32_t)kw0)) * g.in_c;
        fill(dst, before, pad);
        uint8_t *out = dst + before;
        uint32_t n = 0;
        for (; n + 4u <= run; n += 4u) {
            uint32_t v = explore_load4(src + n);
            memcpy(out + n, &v, sizeof v);
        }
        for (; n < run; n++) {
            out[n] = src[n];
        }
        fill(out + run, row_len - before - run, pad);
    }
    return patch;
}

/* acc[c] = start[c] + sum x w' for a group of four channels. */
EXPLORE_INLINE void dot_four(const uint8_t *patch, uint32_t quads, const int16_t *table, const int32_t *start,
                             int32_t *acc)
{
    int32_t a0 = start[0], a1 = start[1], a2 = start[2], a3 = start[3];
    const uint8_t *t = (const uint8_t *)table;
    for (const uint8_t *end = patch + 4u * quads; patch != end; patch += 4, t += 32) {
        uint32_t v = explore_load4(patch), xe = explore_bytes02(v), xo = explore_bytes13(v);
        a0 = explore_smlad(xe, explore_load4(t), a0);
        a0 = explore_smlad(xo, explore_load4(t + 4), a0);
        a1 = explore_smlad(xe, explore_load4(t + 8), a1);
        a1 = explore_smlad(xo, explore_load4(t + 12), a1);
        a2 = explore_smlad(xe, explore_load4(t + 16), a2);
        a2 = explore_smlad(xo, explore_load4(t + 20), a2);
        a3 = explore_smlad(xe, explore_load4(t + 24), a3);
        a3 = explore_smlad(xo, explore_load4(t + 28), a3);
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

/* The same for a group of two channels. */
EXPLORE_INLINE void dot_two(const uint8_t *patch, uint32_t quads, const int16_t *table, const int32_t *start,
                            int32_t *acc)
{
    int32_t a0 = start[0], a1 = start[1];
    const uint8_t *t = (const uint8_t *)table;
    for (const uint8_t *end = patch + 4u * quads; patch != end; patch += 4, t += 16) {
        uint32_t v = explore_load4(patch), xe = explore_bytes02(v), xo = explore_bytes13(v);
        a0 = explore_smlad(xe, explore_load4(t), a0);
        a0 = explore_smlad(xo, explore_load4(t + 4), a0);
        a1 = explore_smlad(xe, explore_load4(t + 8), a1);
        a1 = explore_smlad(xo, explore_load4(t + 12), a1);
    }
    acc[0] = a0;
    acc[1] = a1;
}

/* The same for one channel. */
EXPLORE_INLINE int32_t dot_one(const uint8_t *patch, uint32_t quads, const int16_t *table, int32_t start)
{
    int32_t a0 = start;
    const uint8_t *t = (const uint8_t *)table;
    for (const uint8_t *end = patch + 4u * quads; patch != end; patch += 4, t += 8) {
        uint32_t v = explore_load4(patch);
        a0 = explore_smlad(explore_bytes02(v), explore_load4(t), a0);
        a0 = explore_smlad(explore_bytes13(v), explore_load4(t + 4), a0);
    }
    return a0;
}

/* The widths of the channel groups: fours, then a two, then a one. */
static uint32_t group_width(uint32_t left)
{
    return left >= 4u ? 4u : (left >= 2u ? 2u : 1u);
}

/* acc[c] = start[c] + sum x w' for every output channel. */
EXPLORE_INNER_LOOP void dot_all(const small_t *f, const uint8_t *patch, const int16_t *table, const int32_t *start,
                                int32_t *acc)
{
    const uint32_t out_c = f->g->out_c, quads = f->quads;
    for (uint32_t c0 = 0, width; c0 < out_c; c0 += width) {
        width = group_width(out_c - c0);
        const int16_t *t = table + 4u * quads * c0;
        if (width == 4u) {
            dot_four(patch, quads, t, start + c0, acc + c0);
        } else if (width == 2u) {
            dot_two(patch, quads, t, start + c0, acc + c0);
        } else {
            acc[c0] = dot_one(patch, quads, t, start[c0]);
        }
    }
}

/* y[k] = requantized acc[k] for n accumulators, a right-shifting multiplier (left 0, right >= 1,
   the usual case) with its parameters in registers. */
EXPLORE_INNER_LOOP void requant_right(const explore_requant_t *rq, const int32_t *acc, uint32_t n, uint8_t *y)
{
    const int32_t m0 = rq->m0, y_zero = rq->y_zero, low = rq->low, high = rq->high;
    const uint32_t half = 1u << (rq->right - 1u), down = rq->right - 1u;
    for (uint32_t k = 0; k < n; k++) {
        int32_t v = explore_scale_right(acc[k], m0, half, down) + y_zero;
        y[k] = (uint8_t)(v < low ? low : (v > high ? high : v));
    }
}

/* The same for sums below 2^30 (requant.h: explore_requant_small_fits), any clamp or the full
   [0, 255]. */
EXPLORE_INNER_LOOP void requant_small(const explore_requant_t *rq, const int32_t *acc, uint32_t n, uint8_t *y)
{
    explore_requant_small(rq, acc, n, y, 0);
}

EXPLORE_INNER_LOOP void requant_small_full(const explore_requant_t *rq, const int32_t *acc, uint32_t n, uint8_t *y)
{
    explore_requant_small(rq, acc, n, y, 1);
}

/* The same for any multiplier. */
EXPLORE_INNER_LOOP void requant_any(const explore_requant_t *rq, const int32_t *acc, uint32_t n, uint8_t *y)
{
    const explore_requant_t r = *rq;   /* a local: the byte stores cannot alias it */
    for (uint32_t k = 0; k < n; k++) {
        y[k] = explore_requant(&r, acc[k]);
    }
}

int explore_small_conv_fits(const explore_conv_geom_t *g)
{
    const uint32_t quads = (explore_conv_fan_in(g) + 3u) / 4u;
    return !g->depthwise && g->out_h * g->out_w >= POSITIONS_MIN && 4u * quads <= FAN_MAX &&
           g->out_c <= CHANNELS_MAX && 4u * quads * g->out_c <= TABLE_MAX;
}

void explore_small_conv(const explore_conv_geom_t *g, const uint8_t *x, int32_t x_zero, const uint8_t *w,
                        int32_t w_zero, const int32_t *bias, const explore_requant_t *rq, uint8_t *y, int32_t *sums)
{
    const uint32_t fan = explore_conv_fan_in(g), quads = (fan + 3u) / 4u;
    const uint32_t in_bytes = g->in_h * g->in_w * g->in_c;
    small_t f = {g, x, x + in_bytes, fan, quads, x_zero, w_zero, g->k_h == 1u || g->k_w == g->in_w, NULL, 0u};
    uint32_t table[TABLE_MAX / 2u];   /* int16 pairs, word-aligned */
    const int16_t *entries = (const int16_t *)(void *)table;
    for (uint32_t c0 = 0, width; c0 < g->out_c; c0 += width) {
        width = group_width(g->out_c - c0);
        build_group(&f, w, c0, width, (int16_t *)(void *)table + 4u * quads * c0);
    }
    uint32_t image[IMAGE_MAX / 4u];
    if (image_fits(g)) {
        pad_image(g, x, (uint8_t)x_zero, (uint8_t *)image);
        f.image = (const uint8_t *)image;
        f.image_row = image_width(g) * g->in_c;
    }
    /* start[c] = bias[c] - zx sum_j w'[j][c]: the dot of zx with the table (zeros past the fan-in;
       the patch's bytes past 4 quads are a gather's spill), into acc, not yet in use */
    uint8_t patch[FAN_MAX + SLACK];
    int32_t start[CHANNELS_MAX], acc[ACC_MAX];
    fill(patch, 4u * quads, (uint8_t)f.x_zero);
    for (uint32_t c = 0; c < g->out_c; c++) {
        start[c] = 0;
    }
    dot_all(&f, patch, entries, start, acc);
    for (uint32_t c = 0; c < g->out_c; c++) {
        start[c] = (int32_t)((uint32_t)(bias ? bias[c] : 0) - (uint32_t)acc[c]);
    }
    const uint32_t positions = g->out_h * g->out_w;
    if (!rq) {
        for (uint32_t pos = 0; pos < positions; pos++) {
            uint32_t oh = pos / g->out_w, ow = pos - oh * g->out_w;
            dot_all(&f, gather(&f, oh, ow, patch), entries, start, sums + pos * g->out_c);
        }
        return;
    }
    const int right = rq->left == 0u && rq->right > 0u && rq->right <= 31u;   /* explore_scale_right's range */
    /* a sum's terms: fan products below 2^16 each, and zx sum_j w'[j][c] as much again */
    const int small = explore_requant_small_fits(rq, bias, g->out_c, (int32_t)(2u * fan * 65536u));
    const int full = rq->low == 0 && rq->high == 255;
    const uint32_t batch = ACC_MAX / g->out_c;
    for (uint32_t pos0 = 0; pos0 < positions; pos0 += batch) {
        uint32_t count = positions - pos0 < batch ? positions - pos0 : batch;
        for (uint32_t k = 0; k < count; k++) {
            uint32_t oh = (pos0 + k) / g->out_w, ow = pos0 + k - oh * g->out_w;
            dot_all(&f, gather(&f, oh, ow, patch), entries, start, acc + k * g->out_c);
        }
        if (small && full) {
            requant_small_full(rq, acc, count * g->out_c, y + pos0 * g->out_c);
        } else if (small) {
            requant_small(rq, acc, count * g->out_c, y + pos0 * g->out_c);
        } else if (right) {
            requant_right(rq, acc, count * g->out_c, y + pos0 * g->out_c);
        } else {
            requant_any(rq, acc, count * g->out_c, y + pos0 * g->out_c);
        }
    }
}

int explore_conv_forward_q_small(const explore_conv_geom_t *g, const explore_conv_q_params_t *p, const uint8_t *x,
                                 const uint8_t *w, const int32_t *bias, uint8_t *y)
{
    if (!explore_small_conv_fits(g)) {
        return 0;
    }
    const explore_requant_t rq = explore_requant_prepare(p);
    explore_small_conv(g, x, p->x_zero, w, p->w_zero, bias, &rq, y, NULL);
    return 1;
}
#endif
