/* Float input error of a conv / dense layer (ordered.py): for each kernel offset (kh, kw) in
 * ascending order, every input position it reaches gets the sum over kept output channels
 * (ascending) of e * w; so each input element's terms arrive in kernel-offset order. */
#include "explore_kernels.h"

static float kept_dot(const float *ep, const float *wp, const uint16_t *kept, uint32_t num_kept)
{
    float s = 0.0f;
    for (uint32_t k = 0; k < num_kept; k++) {
        uint32_t o = kept ? kept[k] : k;
        s = s + ep[o] * wp[o];
    }
    return s;
}

static void add_offset(const explore_conv_geom_t *g, const float *e, const float *w, const uint16_t *kept,
                       uint32_t num_kept, uint32_t kh, uint32_t kw, float *dx)
{
    uint32_t wc = g->depthwise ? 1u : g->in_c;
    const float *wk = w + (kh * g->k_w + kw) * wc * g->out_c;
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
            const float *ep = e + (oh * g->out_w + ow) * g->out_c;
            float *dp = dx + ((uint32_t)ih * g->in_w + (uint32_t)iw) * g->in_c;
            if (g->depthwise) {
                for (uint32_t k = 0; k < num_kept; k++) {
                    uint32_t c = kept ? kept[k] : k;
                    dp[c] = dp[c] + ep[c] * wk[c];
                }
                continue;
            }
            for (uint32_t ci = 0; ci < g->in_c; ci++) {
                dp[ci] = dp[ci] + kept_dot(ep, wk + ci * g->out_c, kept, num_kept);
            }
        }
    }
}

void explore_conv_input_error_f(const explore_conv_geom_t *g, const float *e, const float *w, const uint16_t *kept,
                                uint32_t num_kept, float *dx)
{
    uint32_t n = g->in_h * g->in_w * g->in_c;
    for (uint32_t i = 0; i < n; i++) {
        dx[i] = 0.0f;
    }
    for (uint32_t kh = 0; kh < g->k_h; kh++) {
        for (uint32_t kw = 0; kw < g->k_w; kw++) {
            add_offset(g, e, w, kept, num_kept, kh, kw, dx);
        }
    }
}
