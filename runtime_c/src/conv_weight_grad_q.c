/* Integer weight and bias gradient of one sample (Eq. 2, design 6): int32 sums of centred input
 * times centred error over the output positions, scaled by s_e * s_x into the float32 gradient
 * buffers, with the sample's per-channel Welford statistics (design 8).  Only kept channels do any
 * multiply-accumulates; the others contribute exact zeros. */
#include "dsp.h"
#include "explore_kernels.h"

static int32_t weight_acc(const explore_conv_geom_t *g, const uint8_t *x, int32_t x_zero, const uint8_t *e,
                          int32_t e_zero, uint32_t kh, uint32_t kw, uint32_t ci, uint32_t o)
{
    int32_t acc = 0;
    for (uint32_t oh = 0; oh < g->out_h; oh++) {
        int32_t ih = (int32_t)(oh * g->stride_h + kh) - (int32_t)g->pad_top;
        if (ih < 0 || ih >= (int32_t)g->in_h) {
            continue;
        }
        for (uint32_t ow = 0; ow < g->out_w; ow++) {
            int32_t iw = (int32_t)(ow * g->stride_w + kw) - (int32_t)g->pad_left;
            if (iw < 0 || iw >= (int32_t)g->in_w) {
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

#ifdef EXPLORE_USE_DSP
/* Output positions up to this many go through the SMLAD path (one channel's errors on the stack). */
#define COLUMN_MAX 1024u

/* Output rows/columns [first, last) whose tap at offset k lands inside the input. */
static void valid_range(uint32_t out, uint32_t stride, uint32_t k, uint32_t pad, uint32_t in, uint32_t *first,
                        uint32_t *last)
{
    uint32_t lo = 0, hi = 0;
    for (uint32_t o = 0; o < out; o++) {
        int32_t i = (int32_t)(o * stride + k) - (int32_t)pad;
        if (i >= 0 && i < (int32_t)in) {
            lo = hi == 0 ? o : lo;
            hi = o + 1;
        }
    }
    *first = lo;
    *last = hi;
}

typedef struct {
    uint32_t oh0, oh1, ow0, ow1;   /* valid output rectangle of the tap */
    int32_t row0, col0;            /* input row/column of its first valid output position */
} tap_window_t;

/* sum over valid positions of x[p][ci + k] * column[p], k = 0..3, x raw codes; two positions
   per SMLAD (bytes of the two input rows regrouped into (position, next position) lanes). */
EXPLORE_INNER_LOOP void four_channel_dots(const explore_conv_geom_t *g, const uint8_t *x, const int16_t *column,
                                          const tap_window_t *t, uint32_t ci, int32_t *acc)
{
    int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    const uint32_t step = g->stride_w * g->in_c;
    const uint32_t row_step = g->stride_h * g->in_w * g->in_c;
    const uint32_t pairs = (t->ow1 - t->ow0) / 2u, odd = (t->ow1 - t->ow0) % 2u;
    const uint8_t *row = x + ((uint32_t)t->row0 * g->in_w + (uint32_t)t->col0) * g->in_c + ci;
    const int16_t *col_row = column + t->oh0 * g->out_w + t->ow0;
    for (uint32_t rows = t->oh1 - t->oh0; rows; rows--, row += row_step, col_row += g->out_w) {
        const uint8_t *xp = row;
        const int16_t *col = col_row;
        for (uint32_t n = pairs; n; n--) {
            uint32_t e;
            memcpy(&e, col, sizeof e);
            col += 2;
            uint32_t r0 = explore_load4(xp), r1 = explore_load4(xp + step);
            xp += 2u * step;
            uint32_t even0 = explore_bytes02(r0), even1 = explore_bytes02(r1);
            uint32_t odd0 = explore_bytes13(r0), odd1 = explore_bytes13(r1);
            a0 = explore_smlad(explore_pack_lo(even0, even1), e, a0);
            a2 = explore_smlad(explore_pack_hi(even0, even1), e, a2);
            a1 = explore_smlad(explore_pack_lo(odd0, odd1), e, a1);
            a3 = explore_smlad(explore_pack_hi(odd0, odd1), e, a3);
        }
        if (odd) {
            a0 += xp[0] * col[0];
            a1 += xp[1] * col[0];
            a2 += xp[2] * col[0];
            a3 += xp[3] * col[0];
        }
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

static int32_t one_channel_dot(const explore_conv_geom_t *g, const uint8_t *x, const int16_t *column,
                               const tap_window_t *t, uint32_t ci)
{
    int32_t acc = 0;
    for (uint32_t oh = t->oh0; oh < t->oh1; oh++) {
        uint32_t ih = (uint32_t)t->row0 + (oh - t->oh0) * g->stride_h;
        const uint8_t *xp = x + (ih * g->in_w + (uint32_t)t->col0) * g->in_c + ci;
        for (uint32_t ow = t->ow0; ow < t->ow1; ow++, xp += g->stride_w * g->in_c) {
            acc += xp[0] * column[oh * g->out_w + ow];
        }
    }
    return acc;
}

static int32_t window_sum(const explore_conv_geom_t *g, const int16_t *column, const tap_window_t *t)
{
    int32_t s = 0;
    for (uint32_t oh = t->oh0; oh < t->oh1; oh++) {
        for (uint32_t ow = t->ow0; ow < t->ow1; ow++) {
            s += column[oh * g->out_w + ow];
        }
    }
    return s;
}

static tap_window_t tap_window(const explore_conv_geom_t *g, uint32_t kh, uint32_t kw)
{
    tap_window_t t;
    valid_range(g->out_h, g->stride_h, kh, g->pad_top, g->in_h, &t.oh0, &t.oh1);
    valid_range(g->out_w, g->stride_w, kw, g->pad_left, g->in_w, &t.ow0, &t.ow1);
    t.row0 = (int32_t)(t.oh0 * g->stride_h + kh) - (int32_t)g->pad_top;
    t.col0 = (int32_t)(t.ow0 * g->stride_w + kw) - (int32_t)g->pad_left;
    return t;
}

/* One gradient element: scaled into the buffer and through the channel's Welford recurrence. */
EXPLORE_INLINE void sink_element(const explore_grad_sink_t *sink, uint32_t out_c, uint32_t j, uint32_t o, float grad,
                                 float *mean, float *m2)
{
    sink->grad_w[j * out_c + o] += grad;
    explore_welford_push(mean, m2, (float)j, grad);
}

/* sum_p (x - zx) e_c = sum_p x e_c - zx sum_p e_c over the tap's valid positions. */
static void dsp_channel(const explore_conv_geom_t *g, const uint8_t *x, int32_t x_zero, float factor,
                        const int16_t *column, uint32_t o, const explore_grad_sink_t *sink, float *mean, float *m2)
{
    uint32_t j = 0;
    for (uint32_t kh = 0; kh < g->k_h; kh++) {
        for (uint32_t kw = 0; kw < g->k_w; kw++) {
            tap_window_t t = tap_window(g, kh, kw);
            int32_t correction = t.oh1 > t.oh0 && t.ow1 > t.ow0 ? x_zero * window_sum(g, column, &t) : 0;
            int empty = !(t.oh1 > t.oh0 && t.ow1 > t.ow0);
            uint32_t ci = 0;
            for (; ci + 4 <= g->in_c; ci += 4, j += 4) {
                int32_t acc[4] = {0, 0, 0, 0};
                if (!empty) {
                    four_channel_dots(g, x, column, &t, ci, acc);
                }
                for (uint32_t k = 0; k < 4; k++) {
                    sink_element(sink, g->out_c, j + k, o, factor * (float)(acc[k] - correction), mean, m2);
                }
            }
            for (; ci < g->in_c; ci++, j++) {
                int32_t acc = empty ? 0 : one_channel_dot(g, x, column, &t, ci);
                sink_element(sink, g->out_c, j, o, factor * (float)(acc - correction), mean, m2);
            }
        }
    }
}

static int dsp_weight_grad(const explore_conv_geom_t *g, const uint8_t *x, int32_t x_zero, float x_scale,
                           const uint8_t *e, int32_t e_zero, float e_scale, const uint16_t *kept,
                           uint32_t num_kept, const explore_grad_sink_t *sink)
{
    uint32_t positions = g->out_h * g->out_w;
    if (g->depthwise || positions > COLUMN_MAX) {
        return 0;
    }
    int16_t column[COLUMN_MAX];
    float factor = e_scale * x_scale;
    float fan_in = (float)explore_conv_fan_in(g);
    uint32_t next = 0;
    for (uint32_t o = 0; o < g->out_c; o++) {
        float mean = 0.0f, m2 = 0.0f;
        if (next < num_kept && (kept ? kept[next] : next) == o) {
            next++;
            int32_t total = 0;
            for (uint32_t p = 0; p < positions; p++) {
                column[p] = (int16_t)((int32_t)e[p * g->out_c + o] - e_zero);
                total += column[p];
            }
            dsp_channel(g, x, x_zero, factor, column, o, sink, &mean, &m2);
            sink->grad_b[o] += e_scale * (float)total;
        }
        explore_welford_merge(&sink->mean[o], &sink->m2[o], sink->count, mean, m2, fan_in);
    }
    return 1;
}
#endif

void explore_conv_weight_grad_q(const explore_conv_geom_t *g, const uint8_t *x, int32_t x_zero, float x_scale,
                                const uint8_t *e, int32_t e_zero, float e_scale, const uint16_t *kept,
                                uint32_t num_kept, const explore_grad_sink_t *sink)
{
#ifdef EXPLORE_USE_DSP
    if (dsp_weight_grad(g, x, x_zero, x_scale, e, e_zero, e_scale, kept, num_kept, sink)) {
        return;
    }
#endif
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
