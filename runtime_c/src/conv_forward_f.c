/* Float conv / depthwise conv / dense forward in the fixed summation order of
 * explore/fqt/ordered.py: taps (kh, kw, ci) ascending from +0, the bias added last.  Padding taps
 * are skipped: a running sum that starts at +0 never becomes -0, so adding +-0 would change nothing. */
#include "explore_kernels.h"

static float activate(float v, uint8_t activation)
{
    if (activation == 1) {
        return v > 0.0f ? v : 0.0f;
    }
    if (activation == 2) {
        return v > 0.0f ? (v < 6.0f ? v : 6.0f) : 0.0f;
    }
    return v;
}

static float dot_at(const explore_conv_geom_t *g, const explore_float_input_t *x, const float *w, uint32_t oh,
                    uint32_t ow, uint32_t o)
{
    float acc = 0.0f;
    uint32_t wc = g->depthwise ? 1u : g->in_c;
    for (uint32_t kh = 0; kh < g->k_h; kh++) {
        int32_t ih = explore_conv_in_row(g, oh, kh);
        if (ih < 0) {
            continue;
        }
        for (uint32_t kw = 0; kw < g->k_w; kw++) {
            int32_t iw = explore_conv_in_col(g, ow, kw);
            if (iw < 0) {
                continue;
            }
            uint32_t base = ((uint32_t)ih * g->in_w + (uint32_t)iw) * g->in_c;
            const float *wp = w + (kh * g->k_w + kw) * wc * g->out_c + o;
            if (g->depthwise) {
                acc = acc + explore_float_input_at(x, base + o) * wp[0];
                continue;
            }
            for (uint32_t ci = 0; ci < g->in_c; ci++) {
                acc = acc + explore_float_input_at(x, base + ci) * wp[ci * g->out_c];
            }
        }
    }
    return acc;
}

void explore_conv_forward_f(const explore_conv_geom_t *g, const explore_float_input_t *x, const float *w,
                            const float *bias, uint8_t activation, float *y)
{
    for (uint32_t oh = 0; oh < g->out_h; oh++) {
        for (uint32_t ow = 0; ow < g->out_w; ow++) {
            float *yp = y + (oh * g->out_w + ow) * g->out_c;
            for (uint32_t o = 0; o < g->out_c; o++) {
                yp[o] = activate(dot_at(g, x, w, oh, ow, o) + bias[o], activation);
            }
        }
    }
}
