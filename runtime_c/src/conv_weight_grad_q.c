/* Integer weight and bias gradient of one sample (Eq. 2, design 6): int32 sums of centred input
 * times centred error over the output positions, scaled by s_e * s_x into the float32 gradient
 * buffers, with the sample's per-channel Welford statistics (design 8).  Only kept channels do any
 * multiply-accumulates; the others contribute exact zeros.
 *
 * Kept channels go in blocks of four (two above QUAD_MAX output positions): their centred errors
 * are copied into int16 columns (one per channel, in position order), so each (tap, input channel
 * pair) is one tight dot product over the tap's valid positions for every channel of the block,
 * the input zero point applied once per tap:
 *     sum_p (x - zx) e = sum_p x e - zx sum_p e.
 * The float work per element keeps the operations and order of the simulator; the Welford
 * reciprocal 1 / (j + 1) is computed once for the block. */
#include <string.h>

#include "backward_loops.h"
#include "dsp.h"
#include "explore_kernels.h"
#include "welford.h"

/* The error columns of a block of kept channels share one stack buffer: up to QUAD_MAX output
   positions four channels per block, up to COLUMN_MAX two. */
#define COLUMN_MAX (2u * EXPLORE_GRAD_QUAD_MAX)
#define QUAD_MAX EXPLORE_GRAD_QUAD_MAX
#define BLOCK_MAX 4u

/* One kept output channel of the sample: its centred error column and Welford state. */
typedef struct {
    uint32_t o;
    const int16_t *column;
    int32_t total;        /* sum of the column */
    float mean, m2;
    int32_t correction;
} channel_t;

#ifndef EXPLORE_USE_DSP
/* Input channels ci, ci+1 against two error columns over a window: acc as in the DSP version. */
void explore_grad_two_by_two(const explore_conv_geom_t *g, const uint8_t *x, const int16_t *column_a,
                             const int16_t *column_b, const explore_grad_window_t *t, uint32_t ci, int32_t *acc)
{
    int32_t a0 = 0, a1 = 0, b0 = 0, b1 = 0;
    const uint32_t step = g->stride_w * g->in_c;
    const uint32_t row_step = g->stride_h * g->in_w * g->in_c;
    const uint8_t *row = x + ((uint32_t)t->row0 * g->in_w + (uint32_t)t->col0) * g->in_c + ci;
    const uint32_t first_column = t->oh0 * g->out_w + t->ow0;
    const int16_t *row_a = column_a + first_column, *row_b = column_b + first_column;
    for (uint32_t rows = t->oh1 - t->oh0; rows; rows--, row += row_step, row_a += g->out_w, row_b += g->out_w) {
        const uint8_t *xp = row;
        const int16_t *pa = row_a, *pb = row_b;
        for (uint32_t n = t->ow1 - t->ow0; n; n--, xp += step) {
            int32_t x0 = xp[0], x1 = xp[1], ea = *pa++, eb = *pb++;
            a0 += x0 * ea;
            a1 += x1 * ea;
            b0 += x0 * eb;
            b1 += x1 * eb;
        }
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = b0;
    acc[3] = b1;
}
#endif

/* Input channel ci against one error column over a window (raw input codes). */
EXPLORE_INNER_LOOP int32_t one_dot(const explore_conv_geom_t *g, const uint8_t *x, const int16_t *column,
                                   const explore_grad_window_t *t, uint32_t ci)
{
    int32_t acc = 0;
    const uint32_t step = g->stride_w * g->in_c;
    const uint32_t row_step = g->stride_h * g->in_w * g->in_c;
    const uint8_t *row = x + ((uint32_t)t->row0 * g->in_w + (uint32_t)t->col0) * g->in_c + ci;
    const int16_t *row_e = column + t->oh0 * g->out_w + t->ow0;
    for (uint32_t rows = t->oh1 - t->oh0; rows; rows--, row += row_step, row_e += g->out_w) {
        const uint8_t *xp = row;
        const int16_t *ep = row_e;
        for (uint32_t n = t->ow1 - t->ow0; n; n--, xp += step) {
            acc += *xp * *ep++;
        }
    }
    return acc;
}

/* Output indices [first, last) whose tap at offset k lands inside the input; (0, 0) if none. */
static void valid_range(uint32_t out, uint32_t stride, uint32_t k, uint32_t pad, uint32_t in, uint32_t *first,
                        uint32_t *last)
{
    uint32_t lo = pad > k ? (pad - k + stride - 1u) / stride : 0u;
    uint32_t hi = in + pad > k ? (in + pad - k + stride - 1u) / stride : 0u;
    hi = hi < out ? hi : out;
    *first = hi > lo ? lo : 0u;
    *last = hi > lo ? hi : 0u;
}

static explore_grad_window_t tap_window(const explore_conv_geom_t *g, uint32_t kh, uint32_t kw)
{
    explore_grad_window_t t;
    valid_range(g->out_h, g->stride_h, kh, g->pad_top, g->in_h, &t.oh0, &t.oh1);
    valid_range(g->out_w, g->stride_w, kw, g->pad_left, g->in_w, &t.ow0, &t.ow1);
    t.row0 = explore_conv_in_row(g, t.oh0, kh);   /* used only when the window is not empty */
    t.col0 = explore_conv_in_col(g, t.ow0, kw);
    return t;
}

static int32_t block_sum(const int16_t *column, uint32_t width, uint32_t oh0, uint32_t oh1, uint32_t ow0,
                         uint32_t ow1)
{
    int32_t s = 0;
    for (uint32_t oh = oh0; oh < oh1; oh++) {
        const int16_t *ep = column + oh * width;
        for (uint32_t ow = ow0; ow < ow1; ow++) {
            s += ep[ow];
        }
    }
    return s;
}

/* The column's sum over a window: directly, or as the total less the positions outside the window
   when those are fewer (padding excludes only a border). */
static int32_t window_sum(const explore_conv_geom_t *g, const int16_t *column, int32_t total,
                          const explore_grad_window_t *t)
{
    uint32_t h = g->out_h, w = g->out_w, inside = (t->oh1 - t->oh0) * (t->ow1 - t->ow0);
    if (2u * inside <= h * w) {
        return block_sum(column, w, t->oh0, t->oh1, t->ow0, t->ow1);
    }
    return total - block_sum(column, w, 0, t->oh0, 0, w) - block_sum(column, w, t->oh1, h, 0, w) -
           block_sum(column, w, t->oh0, t->oh1, 0, t->ow0) - block_sum(column, w, t->oh0, t->oh1, t->ow1, w);
}

/* Weight element j (row j * out_c of the buffer) of channel c: into the buffer and its Welford state. */
EXPLORE_INLINE void push(const explore_grad_sink_t *sink, uint32_t row, float reciprocal, float grad, channel_t *c)
{
    sink->grad_w[row + c->o] += grad;
    explore_welford_step(&c->mean, &c->m2, reciprocal, grad);
}

/* Elements j and j + 1 of each channel from acc as two_by_two leaves it. */
static void push_two(const explore_grad_sink_t *sink, uint32_t out_c, uint32_t j, float factor, channel_t *c,
                     uint32_t count, const int32_t *acc)
{
    float r0 = explore_welford_reciprocal((float)j), r1 = explore_welford_reciprocal((float)(j + 1u));
    for (uint32_t n = 0; n < count; n++) {
        push(sink, j * out_c, r0, factor * (float)(acc[2u * n] - c[n].correction), &c[n]);
        push(sink, (j + 1u) * out_c, r1, factor * (float)(acc[2u * n + 1u] - c[n].correction), &c[n]);
    }
}

/* Element j of each channel from acc[2 n]. */
static void push_j(const explore_grad_sink_t *sink, uint32_t out_c, uint32_t j, float factor, channel_t *c,
                   uint32_t count, const int32_t *acc)
{
    float r = explore_welford_reciprocal((float)j);
    for (uint32_t n = 0; n < count; n++) {
        push(sink, j * out_c, r, factor * (float)(acc[2u * n] - c[n].correction), &c[n]);
    }
}

/* Element j of each channel, input channel ci (the channel's own for depthwise). */
static void push_one(const explore_grad_sink_t *sink, const explore_conv_geom_t *g, const uint8_t *x,
                     const explore_grad_window_t *t, int empty, uint32_t j, uint32_t ci, float factor, channel_t *c,
                     uint32_t count)
{
    float r = explore_welford_reciprocal((float)j);
    for (uint32_t n = 0; n < count; n++) {
        int32_t acc = empty ? 0 : one_dot(g, x, c[n].column, t, g->depthwise ? c[n].o : ci);
        push(sink, j * g->out_c, r, factor * (float)(acc - c[n].correction), &c[n]);
    }
}

/* Input channels ci, ci + 1 of a tap against every channel of the block: acc[2 n], acc[2 n + 1]
   for channel n; a window of one position (a dense layer) inline. */
static void block_dots(const explore_conv_geom_t *g, const uint8_t *x, const channel_t *c, uint32_t count,
                       const explore_grad_window_t *t, uint32_t ci, int32_t *acc)
{
    uint32_t rows = t->oh1 - t->oh0, cols = t->ow1 - t->ow0;
    if (rows == 1u && cols == 1u) {
        const uint8_t *xp = x + ((uint32_t)t->row0 * g->in_w + (uint32_t)t->col0) * g->in_c + ci;
        uint32_t p = t->oh0 * g->out_w + t->ow0;
        for (uint32_t n = 0; n < count; n++) {
            acc[2u * n] = xp[0] * c[n].column[p];
            acc[2u * n + 1u] = xp[1] * c[n].column[p];
        }
        return;
    }
    if (!rows || !cols) {
        memset(acc, 0, 2u * count * sizeof *acc);
        return;
    }
#ifdef EXPLORE_USE_DSP
    if (count == 4u && c[1].column == c[0].column + QUAD_MAX) {
        explore_grad_two_by_four(g, x, c[0].column, t, ci, acc);
        return;
    }
#endif
    for (uint32_t n = 0; n < count; n += 2u) {
        explore_grad_two_by_two(g, x, c[n].column, c[n + 1u < count ? n + 1u : n].column, t, ci, acc + 2u * n);
    }
}

/* Depthwise: element j of each channel, neighbouring channels through two_by_two with ci = the
   first (its cross terms unused). */
static void depthwise_tap(const explore_grad_sink_t *sink, const explore_conv_geom_t *g, const uint8_t *x,
                          const explore_grad_window_t *t, int empty, uint32_t j, float factor, channel_t *c,
                          uint32_t count)
{
    int32_t own[2u * BLOCK_MAX];
    for (uint32_t n = 0; n < count; n++) {
        if (empty) {
            own[2u * n] = 0;
        } else if (n + 1u < count && c[n + 1u].o == c[n].o + 1u) {
            int32_t acc[4];
            explore_grad_two_by_two(g, x, c[n].column, c[n + 1u].column, t, c[n].o, acc);
            own[2u * n] = acc[0];
            own[2u * n + 2u] = acc[3];
            n++;
        } else {
            own[2u * n] = one_dot(g, x, c[n].column, t, c[n].o);
        }
    }
    push_j(sink, g->out_c, j, factor, c, count, own);
}

/* The elements of one tap (first element j) of one or two channels. */
static void tap_gradients(const explore_conv_geom_t *g, const uint8_t *x, int32_t x_zero, float factor,
                          uint32_t kh, uint32_t kw, uint32_t j, channel_t *c, uint32_t count,
                          const explore_grad_sink_t *sink)
{
    explore_grad_window_t t = tap_window(g, kh, kw);
    int empty = !(t.oh1 > t.oh0 && t.ow1 > t.ow0);
    for (uint32_t n = 0; n < count; n++) {
        c[n].correction = empty ? 0 : x_zero * window_sum(g, c[n].column, c[n].total, &t);
    }
    if (g->depthwise) {
        depthwise_tap(sink, g, x, &t, empty, j, factor, c, count);
        return;
    }
    uint32_t ci = 0;
    for (; ci + 2u <= g->in_c; ci += 2u) {
        int32_t acc[2u * BLOCK_MAX];
        block_dots(g, x, c, count, &t, ci, acc);
        push_two(sink, g->out_c, j + ci, factor, c, count, acc);
    }
    if (ci < g->in_c) {
        push_one(sink, g, x, &t, empty, j + ci, ci, factor, c, count);
    }
}

static channel_t load_channel(const explore_conv_geom_t *g, const uint8_t *e, int32_t e_zero, uint32_t o,
                              int16_t *column, int32_t *total)
{
    uint32_t positions = g->out_h * g->out_w;
    int32_t sum = 0;
    const uint8_t *ep = e + o;
    for (uint32_t p = 0; p < positions; p++, ep += g->out_c) {
        int32_t v = (int32_t)*ep - e_zero;
        column[p] = (int16_t)v;
        sum += v;
    }
    *total = sum;
    channel_t c = {o, column, sum, 0.0f, 0.0f, 0};
    return c;
}

/* One element of a dense block channel: its buffer row and Welford state. */
EXPLORE_INLINE void dense_element(float *grad, float factor, int32_t product, float reciprocal, float *mean,
                                  float *m2)
{
    float value = factor * (float)product;
    *grad += value;
    explore_welford_step(mean, m2, reciprocal, value);
}

/* A dense layer (one output position reached through one tap), four channels: element j is
   (x[j] - zx) e_n, the channels' Welford states kept in locals over the whole row. */
static void dense_four(const explore_conv_geom_t *g, const uint8_t *x, int32_t x_zero, float factor, channel_t *c,
                       const explore_grad_window_t *t, const explore_grad_sink_t *sink)
{
    const uint8_t *xp = x + ((uint32_t)t->row0 * g->in_w + (uint32_t)t->col0) * g->in_c;
    const uint32_t p = t->oh0 * g->out_w + t->ow0;
    const int32_t e0 = c[0].column[p], e1 = c[1].column[p], e2 = c[2].column[p], e3 = c[3].column[p];
    float mean0 = c[0].mean, mean1 = c[1].mean, mean2 = c[2].mean, mean3 = c[3].mean;
    float m20 = c[0].m2, m21 = c[1].m2, m22 = c[2].m2, m23 = c[3].m2;
    float *row = sink->grad_w;
    for (uint32_t j = 0; j < g->in_c; j++, row += g->out_c) {
        float r = explore_welford_reciprocal((float)j);
        int32_t xv = (int32_t)xp[j] - x_zero;
        dense_element(&row[c[0].o], factor, xv * e0, r, &mean0, &m20);
        dense_element(&row[c[1].o], factor, xv * e1, r, &mean1, &m21);
        dense_element(&row[c[2].o], factor, xv * e2, r, &mean2, &m22);
        dense_element(&row[c[3].o], factor, xv * e3, r, &mean3, &m23);
    }
    c[0].mean = mean0, c[1].mean = mean1, c[2].mean = mean2, c[3].mean = mean3;
    c[0].m2 = m20, c[1].m2 = m21, c[2].m2 = m22, c[3].m2 = m23;
}

/* Kept channels k .. k + count - 1: every element, the bias and the merge. */
static void channel_block(const explore_conv_geom_t *g, const uint8_t *x, int32_t x_zero, float factor,
                          const uint8_t *e, int32_t e_zero, float e_scale, const uint16_t *kept, uint32_t k,
                          uint32_t count, const explore_grad_sink_t *sink)
{
    int16_t columns[2u * COLUMN_MAX];
    uint32_t stride = count > 2u ? QUAD_MAX : COLUMN_MAX;
    int32_t totals[BLOCK_MAX];
    channel_t c[BLOCK_MAX];
    for (uint32_t n = 0; n < count; n++) {
        c[n] = load_channel(g, e, e_zero, kept ? kept[k + n] : k + n, columns + n * stride, &totals[n]);
    }
    explore_grad_window_t t = tap_window(g, 0, 0);
    if (count == 4u && !g->depthwise && g->k_h * g->k_w == 1u && t.oh1 - t.oh0 == 1u && t.ow1 - t.ow0 == 1u) {
        dense_four(g, x, x_zero, factor, c, &t, sink);
    } else {
        uint32_t per_tap = g->depthwise ? 1u : g->in_c, j = 0;
        for (uint32_t kh = 0; kh < g->k_h; kh++) {
            for (uint32_t kw = 0; kw < g->k_w; kw++, j += per_tap) {
                tap_gradients(g, x, x_zero, factor, kh, kw, j, c, count, sink);
            }
        }
    }
    float fan_in = (float)explore_conv_fan_in(g);
    for (uint32_t n = 0; n < count; n++) {
        sink->grad_b[c[n].o] += e_scale * (float)totals[n];
        explore_welford_merge(&sink->mean[c[n].o], &sink->m2[c[n].o], sink->count, c[n].mean, c[n].m2, fan_in);
    }
}

static int column_path(const explore_conv_geom_t *g, const uint8_t *x, int32_t x_zero, float x_scale,
                       const uint8_t *e, int32_t e_zero, float e_scale, const uint16_t *kept, uint32_t num_kept,
                       const explore_grad_sink_t *sink)
{
    uint32_t positions = g->out_h * g->out_w;
    if (positions > COLUMN_MAX) {
        return 0;
    }
    float fan_in = (float)explore_conv_fan_in(g);
    /* channels not kept contribute zeros: statistics (0, 0) */
    uint32_t next = 0;
    for (uint32_t o = 0; o < g->out_c; o++) {
        if (next < num_kept && (kept ? kept[next] : next) == o) {
            next++;
        } else {
            explore_welford_merge(&sink->mean[o], &sink->m2[o], sink->count, 0.0f, 0.0f, fan_in);
        }
    }
    uint32_t block = positions > QUAD_MAX ? 2u : BLOCK_MAX;
    for (uint32_t k = 0; k < num_kept; k += block) {
        uint32_t count = num_kept - k < block ? num_kept - k : block;
        channel_block(g, x, x_zero, e_scale * x_scale, e, e_zero, e_scale, kept, k, count, sink);
    }
    return 1;
}

/* --- more output positions than COLUMN_MAX: one element at a time ---------------------------- */

static int32_t weight_acc(const explore_conv_geom_t *g, const uint8_t *x, int32_t x_zero, const uint8_t *e,
                          int32_t e_zero, uint32_t kh, uint32_t kw, uint32_t ci, uint32_t o)
{
    int32_t acc = 0;
    for (uint32_t oh = 0; oh < g->out_h; oh++) {
        int32_t ih = explore_conv_in_row(g, oh, kh);
        if (ih < 0) {
            continue;
        }
        for (uint32_t ow = 0; ow < g->out_w; ow++) {
            int32_t iw = explore_conv_in_col(g, ow, kw);
            if (iw < 0) {
                continue;
            }
            int32_t xv = (int32_t)x[((uint32_t)ih * g->in_w + (uint32_t)iw) * g->in_c + ci] - x_zero;
            int32_t ev = (int32_t)e[(oh * g->out_w + ow) * g->out_c + o] - e_zero;
            acc += xv * ev;
        }
    }
    return acc;
}

static int32_t error_sum(const explore_conv_geom_t *g, const uint8_t *e, int32_t e_zero, uint32_t o)
{
    int32_t s = 0;
    uint32_t positions = g->out_h * g->out_w;
    for (uint32_t p = 0; p < positions; p++) {
        s += (int32_t)e[p * g->out_c + o] - e_zero;
    }
    return s;
}

static void channel_gradient(const explore_conv_geom_t *g, const uint8_t *x, int32_t x_zero, float factor,
                             const uint8_t *e, int32_t e_zero, uint32_t o, const explore_grad_sink_t *sink,
                             float *mean, float *m2)
{
    uint32_t wc = g->depthwise ? 1u : g->in_c;
    uint32_t j = 0;
    for (uint32_t kh = 0; kh < g->k_h; kh++) {
        for (uint32_t kw = 0; kw < g->k_w; kw++) {
            for (uint32_t c = 0; c < wc; c++, j++) {
                uint32_t ci = g->depthwise ? o : c;
                float grad = factor * (float)weight_acc(g, x, x_zero, e, e_zero, kh, kw, ci, o);
                sink->grad_w[j * g->out_c + o] += grad;
                explore_welford_push(mean, m2, (float)j, grad);
            }
        }
    }
}

void explore_conv_weight_grad_q(const explore_conv_geom_t *g, const uint8_t *x, int32_t x_zero, float x_scale,
                                const uint8_t *e, int32_t e_zero, float e_scale, const uint16_t *kept,
                                uint32_t num_kept, const explore_grad_sink_t *sink)
{
    if (explore_dense_fits(g)) {
        explore_dense_weight_grad_q(g, x, x_zero, x_scale, e, e_zero, e_scale, kept, num_kept, sink);
        return;
    }
    if (column_path(g, x, x_zero, x_scale, e, e_zero, e_scale, kept, num_kept, sink)) {
        return;
    }
    float factor = e_scale * x_scale;
    float fan_in = (float)explore_conv_fan_in(g);
    uint32_t next = 0;
    for (uint32_t o = 0; o < g->out_c; o++) {
        float mean = 0.0f, m2 = 0.0f;
        if (next < num_kept && (kept ? kept[next] : next) == o) {
            next++;
            channel_gradient(g, x, x_zero, factor, e, e_zero, o, sink, &mean, &m2);
            sink->grad_b[o] += e_scale * (float)error_sum(g, e, e_zero, o);
        }
        explore_welford_merge(&sink->mean[o], &sink->m2[o], sink->count, mean, m2, fan_in);
    }
}
