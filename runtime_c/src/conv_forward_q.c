/* Integer conv / depthwise conv / dense forward (design 2): int32 accumulation of zero-point-centred
 * uint8 operands, int32 bias, fixed-point requantization, activation as the clamp.  Weights are in
 * Flax layout (kh, kw, in, out); a dense layer is a 1x1 conv over a 1x1 image. */
#include "explore_kernels.h"

static int32_t dot_at(const explore_conv_geom_t *g, const explore_conv_q_params_t *p, const uint8_t *x,
                      const uint8_t *w, uint32_t oh, uint32_t ow, uint32_t o)
{
    int32_t acc = 0;
    uint32_t wc = g->depthwise ? 1u : g->in_c;
    for (uint32_t kh = 0; kh < g->k_h; kh++) {
        int32_t ih = (int32_t)(oh * g->stride_h + kh) - (int32_t)g->pad_top;
        if (ih < 0 || ih >= (int32_t)g->in_h) {
            continue;   /* padding is real zero: (x - zx) = 0 */
        }
        for (uint32_t kw = 0; kw < g->k_w; kw++) {
            int32_t iw = (int32_t)(ow * g->stride_w + kw) - (int32_t)g->pad_left;
            if (iw < 0 || iw >= (int32_t)g->in_w) {
                continue;
            }
            const uint8_t *xp = x + ((uint32_t)ih * g->in_w + (uint32_t)iw) * g->in_c;
            const uint8_t *wp = w + (kh * g->k_w + kw) * wc * g->out_c + o;
            if (g->depthwise) {
                acc += ((int32_t)xp[o] - p->x_zero) * ((int32_t)wp[0] - p->w_zero);
                continue;
            }
            for (uint32_t ci = 0; ci < g->in_c; ci++) {
                acc += ((int32_t)xp[ci] - p->x_zero) * ((int32_t)wp[ci * g->out_c] - p->w_zero);
            }
        }
    }
    return acc;
}

void explore_conv_forward_q(const explore_conv_geom_t *g, const explore_conv_q_params_t *p, const uint8_t *x,
                            const uint8_t *w, const int32_t *bias, uint8_t *y)
{
    for (uint32_t oh = 0; oh < g->out_h; oh++) {
        for (uint32_t ow = 0; ow < g->out_w; ow++) {
            uint8_t *yp = y + (oh * g->out_w + ow) * g->out_c;
            for (uint32_t o = 0; o < g->out_c; o++) {
                int32_t acc = dot_at(g, p, x, w, oh, ow, o) + bias[o];
                int32_t v = explore_mbqm(acc, p->m0, p->shift) + p->y_zero;
                v = v < p->low ? p->low : (v > p->high ? p->high : v);
                yp[o] = (uint8_t)v;
            }
        }
    }
}
