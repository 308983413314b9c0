/* Integer weight and bias gradient of one sample (Eq. 2, design 6): int32 sums of centred input
 * times centred error over the output positions, scaled by s_e * s_x into the float32 gradient
 * buffers, with the sample's per-channel Welford statistics (design 8).  Only kept channels do any
 * multiply-accumulates; the others contribute exact zeros. */
#include "dsp.h"
#include "dsp_loops.h"
#include "explore_kernels.h"

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

#ifdef EXPLORE_USE_DSP
/* Output positions up to this many go through the SMLAD path (two channels' errors on the stack). */
#define COLUMN_MAX 512u

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


/* Input channels ci, ci+1 against the error columns of two output channels over a tap's valid
   positions (raw input codes): acc = {(ci, a), (ci+1, a), (ci, b), (ci+1, b)}; two positions per
   SMLAD, the input bytes regrouped into (position, next position) lanes. */
void explore_dsp_grad_two_by_two(const explore_conv_geom_t *g, const uint8_t *x, const int16_t *column_a,
                                 const int16_t *column_b, const explore_tap_window_t *t, uint32_t ci, int32_t *acc)
{
    int32_t a0 = 0, a1 = 0, b0 = 0, b1 = 0;
    const uint32_t step = g->stride_w * g->in_c;
    const uint32_t row_step = g->stride_h * g->in_w * g->in_c;
    const uint32_t pairs = (t->ow1 - t->ow0) / 2u, odd = (t->ow1 - t->ow0) % 2u;
    const uint8_t *row = x + ((uint32_t)t->row0 * g->in_w + (uint32_t)t->col0) * g->in_c + ci;
    const uint32_t first_column = t->oh0 * g->out_w + t->ow0;
    const int16_t *row_a = column_a + first_column, *row_b = column_b + first_column;
    for (uint32_t rows = t->oh1 - t->oh0; rows; rows--, row += row_step, row_a += g->out_w, row_b += g->out_w) {
        const uint8_t *xp = row;
        const int16_t *pa = row_a, *pb = row_b;
        for (uint32_t n = pairs; n; n--) {
            uint16_t h0, h1;
            uint32_t ea, eb;
            memcpy(&h0, xp, sizeof h0);
            memcpy(&h1, xp + step, sizeof h1);
            xp += 2u * step;
            memcpy(&ea, pa, sizeof ea);
            memcpy(&eb, pb, sizeof eb);
            pa += 2;
            pb += 2;
            /* bytes (p0 ci, p0 ci+1, p1 ci, p1 ci+1) -> lanes (p0, p1) of ci, and of ci + 1 */
            uint32_t both = (uint32_t)h0 | ((uint32_t)h1 << 16);
            uint32_t first = explore_bytes02(both), second = explore_bytes13(both);
            a0 = explore_smlad(first, ea, a0);
            a1 = explore_smlad(second, ea, a1);
            b0 = explore_smlad(first, eb, b0);
            b1 = explore_smlad(second, eb, b1);
        }
        if (odd) {
            a0 += xp[0] * pa[0];
            a1 += xp[1] * pa[0];
            b0 += xp[0] * pb[0];
            b1 += xp[1] * pb[0];
        }
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = b0;
    acc[3] = b1;
}

static int32_t one_channel_dot(const explore_conv_geom_t *g, const uint8_t *x, const int16_t *column,
                               const explore_tap_window_t *t, uint32_t ci)
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

static int32_t window_sum(const explore_conv_geom_t *g, const int16_t *column, const explore_tap_window_t *t)
{
    int32_t s = 0;
    for (uint32_t oh = t->oh0; oh < t->oh1; oh++) {
        for (uint32_t ow = t->ow0; ow < t->ow1; ow++) {
            s += column[oh * g->out_w + ow];
        }
    }
    return s;
}

static explore_tap_window_t tap_window(const explore_conv_geom_t *g, uint32_t kh, uint32_t kw)
{
    explore_tap_window_t t;
    valid_range(g->out_h, g->stride_h, kh, g->pad_top, g->in_h, &t.oh0, &t.oh1);
    valid_range(g->out_w, g->stride_w, kw, g->pad_left, g->in_w, &t.ow0, &t.ow1);
    t.row0 = explore_conv_in_row(g, t.oh0, kh);   /* used only when the window is not empty */
    t.col0 = explore_conv_in_col(g, t.ow0, kw);
    return t;
}

/* One gradient element: scaled into the buffer and through the channel's Welford recurrence. */
EXPLORE_INLINE void sink_element(const explore_grad_sink_t *sink, uint32_t out_c, uint32_t j, uint32_t o, float grad,
                                 float *mean, float *m2)
{
    sink->grad_w[j * out_c + o] += grad;
    explore_welford_push(mean, m2, (float)j, grad);
}

/* One kept output channel of the sample: its centred error column, Welford state and error sum. */
typedef struct {
    uint32_t o;
    const int16_t *column;
    float mean, m2;
    int32_t correction;
} channel_t;

static void push_pair(const explore_grad_sink_t *sink, uint32_t out_c, uint32_t j, channel_t *c, float factor,
                      int32_t acc0, int32_t acc1)
{
    sink_element(sink, out_c, j, c->o, factor * (float)(acc0 - c->correction), &c->mean, &c->m2);
    sink_element(sink, out_c, j + 1u, c->o, factor * (float)(acc1 - c->correction), &c->mean, &c->m2);
}

/* Two channels at once (b may repeat a; its results are then dropped): sum_p (x - zx) e_c =
   sum_p x e_c - zx sum_p e_c over each tap's valid positions; two input channels per pass. */
static void dsp_channels(const explore_conv_geom_t *g, const uint8_t *x, int32_t x_zero, float factor,
                         channel_t *a, channel_t *b, int pair, const explore_grad_sink_t *sink)
{
    uint32_t j = 0;
    for (uint32_t kh = 0; kh < g->k_h; kh++) {
        for (uint32_t kw = 0; kw < g->k_w; kw++) {
            explore_tap_window_t t = tap_window(g, kh, kw);
            int empty = !(t.oh1 > t.oh0 && t.ow1 > t.ow0);
            a->correction = empty ? 0 : x_zero * window_sum(g, a->column, &t);
            b->correction = empty ? 0 : x_zero * window_sum(g, b->column, &t);
            uint32_t ci = 0;
            for (; ci + 2 <= g->in_c; ci += 2, j += 2) {
                int32_t acc[4] = {0, 0, 0, 0};
                if (!empty) {
                    explore_dsp_grad_two_by_two(g, x, a->column, b->column, &t, ci, acc);
                }
                push_pair(sink, g->out_c, j, a, factor, acc[0], acc[1]);
                if (pair) {
                    push_pair(sink, g->out_c, j, b, factor, acc[2], acc[3]);
                }
            }
            for (; ci < g->in_c; ci++, j++) {
                channel_t *both[2] = {a, b};
                for (int k = 0; k < 1 + pair; k++) {
                    int32_t acc = empty ? 0 : one_channel_dot(g, x, both[k]->column, &t, ci);
                    sink_element(sink, g->out_c, j, both[k]->o, factor * (float)(acc - both[k]->correction),
                                 &both[k]->mean, &both[k]->m2);
                }
            }
        }
    }
}

static channel_t load_channel(const explore_conv_geom_t *g, const uint8_t *e, int32_t e_zero, uint32_t o,
                              int16_t *column, int32_t *total)
{
    uint32_t positions = g->out_h * g->out_w;
    int32_t sum = 0;
    for (uint32_t p = 0; p < positions; p++) {
        column[p] = (int16_t)((int32_t)e[p * g->out_c + o] - e_zero);
        sum += column[p];
    }
    *total = sum;
    channel_t c = {o, column, 0.0f, 0.0f, 0};
    return c;
}

static int dsp_weight_grad(const explore_conv_geom_t *g, const uint8_t *x, int32_t x_zero, float x_scale,
                           const uint8_t *e, int32_t e_zero, float e_scale, const uint16_t *kept,
                           uint32_t num_kept, const explore_grad_sink_t *sink)
{
    if (g->depthwise || g->out_h * g->out_w > COLUMN_MAX) {
        return 0;
    }
    int16_t columns[2][COLUMN_MAX];
    float factor = e_scale * x_scale;
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
    for (uint32_t k = 0; k < num_kept; k += 2) {
        int pair = k + 1 < num_kept;
        int32_t totals[2];
        channel_t a = load_channel(g, e, e_zero, kept ? kept[k] : k, columns[0], &totals[0]);
        channel_t b = pair ? load_channel(g, e, e_zero, kept ? kept[k + 1] : k + 1, columns[1], &totals[1]) : a;
        dsp_channels(g, x, x_zero, factor, &a, &b, pair, sink);
        channel_t *done[2] = {&a, &b};
        for (int n = 0; n < 1 + pair; n++) {
            sink->grad_b[done[n]->o] += e_scale * (float)totals[n];
            explore_welford_merge(&sink->mean[done[n]->o], &sink->m2[done[n]->o], sink->count, done[n]->mean,
                                  done[n]->m2, fan_in);
        }
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
