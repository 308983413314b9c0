/* Average pooling over non-overlapping windows ('valid'); global average pooling is one window
 * covering the whole input.  uint8: TFLite's rounded integer mean.  float: the window's sum in
 * row-major order times 1/count (ordered.py). */
#include "explore_kernels.h"

/* Element (0, 0) of channel c of window (oh, ow); the window's rows are g->in_w * g->c elements apart,
   its columns g->c. */
static uint32_t window_start(const explore_pool_geom_t *g, uint32_t oh, uint32_t ow, uint32_t c)
{
    return ((oh * g->win_h) * g->in_w + ow * g->win_w) * g->c + c;
}

/* Whether the windows leave input rows or columns uncovered (a 'valid' tail); without, the backward
   pass writes every element through the windows and needs no fill first. */
static int has_tail(const explore_pool_geom_t *g)
{
    return g->out_h * g->win_h != g->in_h || g->out_w * g->win_w != g->in_w;
}

void explore_avgpool_forward_u8(const explore_pool_geom_t *g, const uint8_t *x, uint8_t *y)
{
    const uint32_t count = g->win_h * g->win_w, row = g->in_w * g->c, col = g->c;
    for (uint32_t oh = 0; oh < g->out_h; oh++) {
        for (uint32_t ow = 0; ow < g->out_w; ow++) {
            for (uint32_t c = 0; c < g->c; c++) {
                const uint8_t *xr = x + window_start(g, oh, ow, c);
                uint32_t total = 0;
                for (uint32_t kh = 0; kh < g->win_h; kh++, xr += row) {
                    for (uint32_t kw = 0, k = 0; kw < g->win_w; kw++, k += col) {
                        total += xr[k];
                    }
                }
                y[(oh * g->out_w + ow) * g->c + c] = (uint8_t)((total + count / 2) / count);
            }
        }
    }
}

void explore_avgpool_forward_f(const explore_pool_geom_t *g, const float *x, float *y)
{
    const uint32_t count = g->win_h * g->win_w, row = g->in_w * g->c, col = g->c;
    float inv_count = 1.0f / (float)count;
    for (uint32_t oh = 0; oh < g->out_h; oh++) {
        for (uint32_t ow = 0; ow < g->out_w; ow++) {
            for (uint32_t c = 0; c < g->c; c++) {
                const float *xr = x + window_start(g, oh, ow, c);
                float total = 0.0f;   /* row-major order in the window, as ordered.py sums */
                for (uint32_t kh = 0; kh < g->win_h; kh++, xr += row) {
                    for (uint32_t kw = 0, k = 0; kw < g->win_w; kw++, k += col) {
                        total = total + xr[k];
                    }
                }
                y[(oh * g->out_w + ow) * g->c + c] = total * inv_count;
            }
        }
    }
}

void explore_avgpool_backward_u8(const explore_pool_geom_t *g, const uint8_t *e, int32_t e_zero, uint8_t *dx)
{
    const uint32_t n = g->in_h * g->in_w * g->c, row = g->in_w * g->c, col = g->c;
    for (uint32_t i = 0; has_tail(g) && i < n; i++) {
        dx[i] = (uint8_t)e_zero;   /* the 'valid' tail gets zero error */
    }
    for (uint32_t oh = 0; oh < g->out_h; oh++) {
        for (uint32_t ow = 0; ow < g->out_w; ow++) {
            for (uint32_t c = 0; c < g->c; c++) {
                uint8_t v = e[(oh * g->out_w + ow) * g->c + c];
                uint8_t *dr = dx + window_start(g, oh, ow, c);
                for (uint32_t kh = 0; kh < g->win_h; kh++, dr += row) {
                    for (uint32_t kw = 0, k = 0; kw < g->win_w; kw++, k += col) {
                        dr[k] = v;
                    }
                }
            }
        }
    }
}

void explore_avgpool_backward_f(const explore_pool_geom_t *g, const float *e, float inv_count, float *dx)
{
    const uint32_t n = g->in_h * g->in_w * g->c, row = g->in_w * g->c, col = g->c;
    for (uint32_t i = 0; has_tail(g) && i < n; i++) {
        dx[i] = 0.0f;   /* the 'valid' tail gets zero error */
    }
    for (uint32_t oh = 0; oh < g->out_h; oh++) {
        for (uint32_t ow = 0; ow < g->out_w; ow++) {
            for (uint32_t c = 0; c < g->c; c++) {
                float v = e[(oh * g->out_w + ow) * g->c + c] * inv_count;
                float *dr = dx + window_start(g, oh, ow, c);
                for (uint32_t kh = 0; kh < g->win_h; kh++, dr += row) {
                    for (uint32_t kw = 0, k = 0; kw < g->win_w; kw++, k += col) {
                        dr[k] = v;
                    }
                }
            }
        }
    }
}
