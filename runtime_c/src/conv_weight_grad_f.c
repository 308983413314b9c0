/* Float weight and bias gradient of one sample (ordered.py): each element is the sum over output
 * positions (ascending) of input * error; it is added to the gradient buffer and pushed through
 * its channel's Welford recurrence in memory order (design 8).  Dropped channels add exact zeros. */
#include "explore_kernels.h"

static float weight_sum(const explore_conv_geom_t *g, const explore_float_input_t *x, const float *e, uint32_t kh,
                        uint32_t kw, uint32_t ci, uint32_t o)
{
    float acc = 0.0f;
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
            float xv = explore_float_input_at(x, ((uint32_t)ih * g->in_w + (uint32_t)iw) * g->in_c + ci);
            acc = acc + xv * e[(oh * g->out_w + ow) * g->out_c + o];
        }
    }
    return acc;
}

static float error_sum(const explore_conv_geom_t *g, const float *e, uint32_t o)
{
    float s = 0.0f;
    uint32_t positions = g->out_h * g->out_w;
    for (uint32_t p = 0; p < positions; p++) {
        s = s + e[p * g->out_c + o];
    }
    return s;
}

void explore_conv_weight_grad_f(const explore_conv_geom_t *g, const explore_float_input_t *x, const float *e,
                                const uint16_t *kept, uint32_t num_kept, const explore_grad_sink_t *sink)
{
    uint32_t wc = g->depthwise ? 1u : g->in_c;
    float fan_in = (float)explore_conv_fan_in(g);
    uint32_t next = 0;
    for (uint32_t o = 0; o < g->out_c; o++) {
        float mean = 0.0f, m2 = 0.0f;
        if (next < num_kept && (kept ? kept[next] : next) == o) {
            next++;
            uint32_t j = 0;
            for (uint32_t kh = 0; kh < g->k_h; kh++) {
                for (uint32_t kw = 0; kw < g->k_w; kw++) {
                    for (uint32_t c = 0; c < wc; c++, j++) {
                        float grad = weight_sum(g, x, e, kh, kw, g->depthwise ? o : c, o);
                        sink->grad_w[j * g->out_c + o] += grad;
                        explore_welford_push(&mean, &m2, (float)j, grad);
                    }
                }
            }
            sink->grad_b[o] += error_sum(g, e, o);
        }
        explore_welford_merge(&sink->mean[o], &sink->m2[o], sink->count, mean, m2, fan_in);
    }
}
