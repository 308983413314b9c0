/* Average pooling over non-overlapping windows ('valid'); global average pooling is one window
 * covering the whole input.  uint8: TFLite's rounded integer mean.  float: the window's sum in
 * row-major order times 1/count (ordered.py). */
#include "explore_kernels.h"

static uint32_t in_index(const explore_pool_geom_t *g, uint32_t oh, uint32_t ow, uint32_t pos, uint32_t c)
{
    uint32_t ih = oh * g->win_h + pos / g->win_w;
    uint32_t iw = ow * g->win_w + pos % g->win_w;
    return (ih * g->in_w + iw) * g->c + c;
}

void explore_avgpool_forward_u8(const explore_pool_geom_t *g, const uint8_t *x, uint8_t *y)
{
    uint32_t count = g->win_h * g->win_w;
    for (uint32_t oh = 0; oh < g->out_h; oh++) {
        for (uint32_t ow = 0; ow < g->out_w; ow++) {
            for (uint32_t c = 0; c < g->c; c++) {
                uint32_t total = 0;
                for (uint32_t pos = 0; pos < count; pos++) {
                    total += x[in_index(g, oh, ow, pos, c)];
                }
                y[(oh * g->out_w + ow) * g->c + c] = (uint8_t)((total + count / 2) / count);
            }
        }
    }
}

void explore_avgpool_forward_f(const explore_pool_geom_t *g, const float *x, float *y)
{
    uint32_t count = g->win_h * g->win_w;
    float inv_count = 1.0f / (float)count;
    for (uint32_t oh = 0; oh < g->out_h; oh++) {
        for (uint32_t ow = 0; ow < g->out_w; ow++) {
            for (uint32_t c = 0; c < g->c; c++) {
                float total = 0.0f;
                for (uint32_t pos = 0; pos < count; pos++) {
                    total = total + x[in_index(g, oh, ow, pos, c)];
                }
                y[(oh * g->out_w + ow) * g->c + c] = total * inv_count;
            }
        }
    }
}

void explore_avgpool_backward_u8(const explore_pool_geom_t *g, const uint8_t *e, int32_t e_zero, uint8_t *dx)
{
    uint32_t n = g->in_h * g->in_w * g->c;
    uint32_t count = g->win_h * g->win_w;
    for (uint32_t i = 0; i < n; i++) {
        dx[i] = (uint8_t)e_zero;   /* the 'valid' tail gets zero error */
    }
    for (uint32_t oh = 0; oh < g->out_h; oh++) {
        for (uint32_t ow = 0; ow < g->out_w; ow++) {
            for (uint32_t c = 0; c < g->c; c++) {
                uint8_t v = e[(oh * g->out_w + ow) * g->c + c];
                for (uint32_t pos = 0; pos < count; pos++) {
                    dx[in_index(g, oh, ow, pos, c)] = v;
                }
            }
        }
    }
}

void explore_avgpool_backward_f(const explore_pool_geom_t *g, const float *e, float inv_count, float *dx)
{
    uint32_t n = g->in_h * g->in_w * g->c;
    uint32_t count = g->win_h * g->win_w;
    for (uint32_t i = 0; i < n; i++) {
        dx[i] = 0.0f;
    }
    for (uint32_t oh = 0; oh < g->out_h; oh++) {
        for (uint32_t ow = 0; ow < g->out_w; ow++) {
            for (uint32_t c = 0; c < g->c; c++) {
                float v = e[(oh * g->out_w + ow) * g->c + c] * inv_count;
                for (uint32_t pos = 0; pos < count; pos++) {
                    dx[in_index(g, oh, ow, pos, c)] = v;
                }
            }
        }
    }
}
