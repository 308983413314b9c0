/* The input error of a small conv layer (ARMv7E-M) as a forward conv of the output error,
 * on the small-layer conv of conv_forward_q_small.c.  Input position (ih, iw) receives, through
 * tap (kh, kw), the error of output (ih + pad_top - kh, iw + pad_left - kw): with the kernel
 * flipped (kh' = k_h - 1 - kh) that is a conv over the error map with padding k - 1 - pad, whose
 * fan-in runs over (kh', kw', output channel) and whose channels are the input channels.
 *
 * The flipped weights are laid out once per call in the forward's (fan-in, channel) order; a
 * dropped output channel gets weight zw, so that its (w - zw) and its term are zero.
 *
 * A strided layer is the same conv over the error map dilated by the strides: output (oh, ow) at
 * (oh s_h, ow s_w) and error code ze (a centred zero) between, since the output that reaches input
 * ih through tap kh is the one with oh s_h = ih + pad_top - kh.  The dilated map is built on the
 * stack where it is small. */
#include <string.h>

#include "backward_loops.h"
#include "dsp.h"
#include "dsp_loops.h"

#ifdef EXPLORE_USE_DSP
/* Flipped weights (fan-in x input channels) and output channels on the stack. */
#define FLIPPED_MAX 1024u
#define CHANNELS_MAX 256u
/* Bytes of a dilated error map (strided layers). */
#define DILATED_MAX 256u

/* The error map as the small conv's input, acc as its output. */
static explore_conv_geom_t flipped_geometry(const explore_conv_geom_t *g)
{
    explore_conv_geom_t f = *g;
    f.in_h = g->out_h;
    f.in_w = g->out_w;
    f.in_c = g->out_c;
    f.out_h = g->in_h;
    f.out_w = g->in_w;
    f.out_c = g->in_c;
    f.pad_top = g->k_h - 1u - g->pad_top;
    f.pad_left = g->k_w - 1u - g->pad_left;
    /* a strided layer's error map, dilated: (out - 1) * stride + 1 a side, read at stride 1 */
    f.in_h = (g->out_h - 1u) * g->stride_h + 1u;
    f.in_w = (g->out_w - 1u) * g->stride_w + 1u;
    f.stride_h = f.stride_w = 1u;
    return f;
}

/* The error map dilated by the strides: e at (oh s_h, ow s_w), code ze elsewhere. */
static void dilate(const explore_conv_geom_t *g, const explore_conv_geom_t *f, const uint8_t *e, uint8_t e_zero,
                   uint8_t *dilated)
{
    const uint32_t channels = g->out_c;
    memset(dilated, e_zero, f->in_h * f->in_w * channels);
    for (uint32_t oh = 0; oh < g->out_h; oh++) {
        for (uint32_t ow = 0; ow < g->out_w; ow++) {
            memcpy(dilated + ((oh * g->stride_h) * f->in_w + ow * g->stride_w) * channels,
                   e + (oh * g->out_w + ow) * channels, channels);
        }
    }
}

/* flipped[((kh' k_w + kw') out_c + o) in_c + ci] = w[kh][kw][ci][o], or zw for a dropped o. */
static void flip_weights(const explore_conv_geom_t *g, const uint8_t *w, uint8_t w_zero, const uint8_t *keep,
                         uint8_t *flipped)
{
    const uint32_t taps = g->k_h * g->k_w, in_c = g->in_c, out_c = g->out_c;
    for (uint32_t t = 0; t < taps; t++) {
        const uint8_t *wt = w + (taps - 1u - t) * in_c * out_c;   /* (kh, kw) = flipped (kh', kw') */
        for (uint32_t o = 0; o < out_c; o++) {
            uint8_t *dst = flipped + (t * out_c + o) * in_c;
            if (!keep[o]) {
                memset(dst, w_zero, in_c);
                continue;
            }
            const uint8_t *src = wt + o;
            uint32_t ci = 0;
            for (; ci + 4u <= in_c; ci += 4u, src += 4u * out_c) {   /* four strided bytes as one word store */
                uint32_t v = (uint32_t)src[0] | ((uint32_t)src[out_c] << 8) | ((uint32_t)src[2u * out_c] << 16) |
                             ((uint32_t)src[3u * out_c] << 24);
                memcpy(dst + ci, &v, sizeof v);
            }
            for (; ci < in_c; ci++, src += out_c) {
                dst[ci] = *src;
            }
        }
    }
}

int explore_input_error_small(const explore_conv_geom_t *g, const uint8_t *e, int32_t e_zero, const uint8_t *w,
                              int32_t w_zero, const uint16_t *kept, uint32_t num_kept, int32_t *acc)
{
    if (g->depthwise || g->pad_top >= g->k_h || g->pad_left >= g->k_w || g->out_c > CHANNELS_MAX) {
        return 0;
    }
    const explore_conv_geom_t f = flipped_geometry(g);
    const int strided = g->stride_h != 1u || g->stride_w != 1u;
    if (!explore_small_conv_fits(&f) || explore_conv_fan_in(&f) * f.out_c > FLIPPED_MAX ||
        (strided && f.in_h * f.in_w * f.in_c > DILATED_MAX)) {
        return 0;
    }
    uint8_t keep[CHANNELS_MAX];
    for (uint32_t k = 0, next = 0; k < g->out_c; k++) {
        keep[k] = next < num_kept && (kept ? kept[next] : next) == k;
        next += keep[k];
    }
    uint8_t flipped[FLIPPED_MAX], dilated[DILATED_MAX];
    flip_weights(g, w, (uint8_t)w_zero, keep, flipped);
    if (strided) {
        dilate(g, &f, e, (uint8_t)e_zero, dilated);
    }
    explore_small_conv(&f, strided ? dilated : e, e_zero, flipped, w_zero, NULL, NULL, NULL, acc);
    return 1;
}
#endif
