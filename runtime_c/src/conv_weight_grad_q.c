/* Integer weight and bias gradient of one sample (Eq. 2, design 6): int32 sums of centred input
 * times centred error over the output positions, scaled by s_e * s_x into the float32 gradient
 * buffers, with the sample's per-channel Welford statistics (design 8).  Only kept channels do any
 * multiply-accumulates; the others contribute exact zeros. */
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

void explore_conv_weight_grad_q(const explore_conv_geom_t *g, const uint8_t *x, int32_t x_zero, float x_scale,
                                const uint8_t *e, int32_t e_zero, float e_scale, const uint16_t *kept,
                                uint32_t num_kept, const explore_grad_sink_t *sink)
{
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
