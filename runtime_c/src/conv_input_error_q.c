/* Integer input error of a conv / dense layer (Eq. 1 and 4): the transposed convolution of the
 * output error with the weights, summed over the kept output channels only (design 10), in int32
 * ahead of its dynamic requantization (design 4). */
#include <string.h>

#include "explore_kernels.h"

static int32_t kept_dot(const uint8_t *ep, int32_t e_zero, const uint8_t *wp, int32_t w_zero,
                        const uint16_t *kept, uint32_t num_kept)
{
    int32_t s = 0;
    for (uint32_t k = 0; k < num_kept; k++) {
        uint32_t o = kept ? kept[k] : k;
        s += ((int32_t)ep[o] - e_zero) * ((int32_t)wp[o] - w_zero);
    }
    return s;
}

void explore_conv_input_error_q(const explore_conv_geom_t *g, const uint8_t *e, int32_t e_zero, const uint8_t *w,
                                int32_t w_zero, const uint16_t *kept, uint32_t num_kept, int32_t *acc)
{
    memset(acc, 0, (size_t)g->in_h * g->in_w * g->in_c * sizeof(int32_t));
    uint32_t wc = g->depthwise ? 1u : g->in_c;
    for (uint32_t oh = 0; oh < g->out_h; oh++) {
        for (uint32_t ow = 0; ow < g->out_w; ow++) {
            const uint8_t *ep = e + (oh * g->out_w + ow) * g->out_c;
            for (uint32_t kh = 0; kh < g->k_h; kh++) {
                int32_t ih = (int32_t)(oh * g->stride_h + kh) - (int32_t)g->pad_top;
                if (ih < 0 || ih >= (int32_t)g->in_h) {
                    continue;
                }
                for (uint32_t kw = 0; kw < g->k_w; kw++) {
                    int32_t iw = (int32_t)(ow * g->stride_w + kw) - (int32_t)g->pad_left;
                    if (iw < 0 || iw >= (int32_t)g->in_w) {
                        continue;
                    }
                    int32_t *ap = acc + ((uint32_t)ih * g->in_w + (uint32_t)iw) * g->in_c;
                    const uint8_t *wp = w + (kh * g->k_w + kw) * wc * g->out_c;
                    if (g->depthwise) {
                        for (uint32_t k = 0; k < num_kept; k++) {
                            uint32_t c = kept ? kept[k] : k;
                            ap[c] += ((int32_t)ep[c] - e_zero) * ((int32_t)wp[c] - w_zero);
                        }
                        continue;
                    }
                    for (uint32_t ci = 0; ci < g->in_c; ci++) {
                        ap[ci] += kept_dot(ep, e_zero, wp + ci * g->out_c, w_zero, kept, num_kept);
                    }
                }
            }
        }
    }
}
