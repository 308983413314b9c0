/* Max pooling (non-overlapping windows, 'valid'): forward keeps the winner's position in its
 * window (first maximum in row-major order), backward routes the error there. */
#include "explore_kernels.h"

static uint32_t in_index(const explore_pool_geom_t *g, uint32_t oh, uint32_t ow, uint32_t pos, uint32_t c)
{
    uint32_t ih = oh * g->win_h + pos / g->win_w;
    uint32_t iw = ow * g->win_w + pos % g->win_w;
    return (ih * g->in_w + iw) * g->c + c;
}

void explore_maxpool_forward_u8(const explore_pool_geom_t *g, const uint8_t *x, uint8_t *y, uint8_t *arg)
{
    uint32_t window = g->win_h * g->win_w;
    for (uint32_t oh = 0; oh < g->out_h; oh++) {
        for (uint32_t ow = 0; ow < g->out_w; ow++) {
            for (uint32_t c = 0; c < g->c; c++) {
                uint32_t best = 0;
                uint8_t top = x[in_index(g, oh, ow, 0, c)];
                for (uint32_t pos = 1; pos < window; pos++) {
                    uint8_t v = x[in_index(g, oh, ow, pos, c)];
                    if (v > top) {
                        top = v;
                        best = pos;
                    }
                }
                uint32_t out = (oh * g->out_w + ow) * g->c + c;
                y[out] = top;
                if (arg) {
                    arg[out] = (uint8_t)best;
                }
            }
        }
    }
}

void explore_maxpool_forward_f(const explore_pool_geom_t *g, const float *x, float *y, uint8_t *arg)
{
    uint32_t window = g->win_h * g->win_w;
    for (uint32_t oh = 0; oh < g->out_h; oh++) {
        for (uint32_t ow = 0; ow < g->out_w; ow++) {
            for (uint32_t c = 0; c < g->c; c++) {
                uint32_t best = 0;
                float top = x[in_index(g, oh, ow, 0, c)];
                for (uint32_t pos = 1; pos < window; pos++) {
                    float v = x[in_index(g, oh, ow, pos, c)];
                    if (v > top) {
                        top = v;
                        best = pos;
                    }
                }
                uint32_t out = (oh * g->out_w + ow) * g->c + c;
                y[out] = top;
                if (arg) {
                    arg[out] = (uint8_t)best;
                }
            }
        }
    }
}

void explore_maxpool_backward_u8(const explore_pool_geom_t *g, const uint8_t *e, const uint8_t *arg, uint8_t fill,
                                 uint8_t *dx)
{
    uint32_t n = g->in_h * g->in_w * g->c;
    for (uint32_t i = 0; i < n; i++) {
        dx[i] = fill;
    }
    for (uint32_t oh = 0; oh < g->out_h; oh++) {
        for (uint32_t ow = 0; ow < g->out_w; ow++) {
            for (uint32_t c = 0; c < g->c; c++) {
                uint32_t out = (oh * g->out_w + ow) * g->c + c;
                dx[in_index(g, oh, ow, arg[out] < g->win_h * g->win_w ? arg[out] : 0u, c)] = e[out];
            }
        }
    }
}

void explore_maxpool_backward_f(const explore_pool_geom_t *g, const float *e, const uint8_t *arg, float *dx)
{
    uint32_t n = g->in_h * g->in_w * g->c;
    for (uint32_t i = 0; i < n; i++) {
        dx[i] = 0.0f;
    }
    for (uint32_t oh = 0; oh < g->out_h; oh++) {
        for (uint32_t ow = 0; ow < g->out_w; ow++) {
            for (uint32_t c = 0; c < g->c; c++) {
                uint32_t out = (oh * g->out_w + ow) * g->c + c;
                dx[in_index(g, oh, ow, arg[out] < g->win_h * g->win_w ? arg[out] : 0u, c)] = e[out];
            }
        }
    }
}
