/* Integer weight and bias gradient of one sample for a dense layer (Eq. 2, design 6), any 1x1 conv
 * over a 1x1 image: weight element (j, c) is s_e s_x (x_j - zx)(e_c - ze), one product, added to the
 * gradient buffer and pushed through channel c's Welford recurrence in element order j (design 8),
 * exactly the float operations of conv_weight_grad_q.c's general path.  That path spends a small
 * dense layer on its per-tap machinery (error columns, windows, corrections); here the kept channels
 * go four at a time, their errors and Welford states in registers along the input rows, and the
 * Welford reciprocal 1 / (j + 1) is computed once per row for the four. */
#include "dsp.h"
#include "explore_kernels.h"
#include "welford.h"

typedef struct {
    const explore_conv_geom_t *g;
    const uint8_t *x;
    int32_t x_zero;
    float factor;       /* s_e s_x */
    float e_scale;
    const explore_grad_sink_t *sink;
} dense_t;

/* One element: into the buffer and the channel's Welford state. */
EXPLORE_INLINE void element(float *grad, float value, float reciprocal, float *mean, float *m2)
{
    *grad += value;
    explore_welford_step(mean, m2, reciprocal, value);
}

/* Channel o's bias gradient and the merge of its sample statistics. */
static void finish_channel(const dense_t *d, uint32_t o, int32_t err, float mean, float m2)
{
    const explore_grad_sink_t *sink = d->sink;
    sink->grad_b[o] += d->e_scale * (float)err;
    explore_welford_merge(&sink->mean[o], &sink->m2[o], sink->count, mean, m2, (float)d->g->in_c);
}

/* Kept channels o[0 .. count) (count 1 to 4, a constant where inlined) with centred errors err[]:
   every element, then the bias and the merge.  Lanes past count repeat channel 0 and are not used. */
EXPLORE_INLINE void channels(const dense_t *d, const uint16_t *o, const int32_t *err, uint32_t count)
{
    const uint32_t out_c = d->g->out_c, n = d->g->in_c;
    const uint8_t *x = d->x;
    const int32_t x_zero = d->x_zero;
    const float factor = d->factor;
    const uint32_t k1 = count > 1u ? 1u : 0u, k2 = count > 2u ? 2u : 0u, k3 = count > 3u ? 3u : 0u;
    const int32_t e0 = err[0], e1 = err[k1], e2 = err[k2], e3 = err[k3];
    float *g0 = d->sink->grad_w + o[0], *g1 = d->sink->grad_w + o[k1];
    float *g2 = d->sink->grad_w + o[k2], *g3 = d->sink->grad_w + o[k3];
    float mean0 = 0.0f, mean1 = 0.0f, mean2 = 0.0f, mean3 = 0.0f, m20 = 0.0f, m21 = 0.0f, m22 = 0.0f, m23 = 0.0f;
    for (uint32_t j = 0, row = 0; j < n; j++, row += out_c) {
        float r = explore_welford_reciprocal((float)j);
        int32_t xv = (int32_t)x[j] - x_zero;
        element(g0 + row, factor * (float)(xv * e0), r, &mean0, &m20);
        if (count > 1u) {
            element(g1 + row, factor * (float)(xv * e1), r, &mean1, &m21);
        }
        if (count > 2u) {
            element(g2 + row, factor * (float)(xv * e2), r, &mean2, &m22);
        }
        if (count > 3u) {
            element(g3 + row, factor * (float)(xv * e3), r, &mean3, &m23);
        }
    }
    finish_channel(d, o[0], e0, mean0, m20);
    if (count > 1u) {
        finish_channel(d, o[1], e1, mean1, m21);
    }
    if (count > 2u) {
        finish_channel(d, o[2], e2, mean2, m22);
    }
    if (count > 3u) {
        finish_channel(d, o[3], e3, mean3, m23);
    }
}

/* One function per block size, so that each keeps its states in registers. */
static void channels_1(const dense_t *d, const uint16_t *o, const int32_t *err)
{
    channels(d, o, err, 1u);
}

static void channels_2(const dense_t *d, const uint16_t *o, const int32_t *err)
{
    channels(d, o, err, 2u);
}

static void channels_3(const dense_t *d, const uint16_t *o, const int32_t *err)
{
    channels(d, o, err, 3u);
}

static void channels_4(const dense_t *d, const uint16_t *o, const int32_t *err)
{
    channels(d, o, err, 4u);
}

void explore_dense_weight_grad_q(const explore_conv_geom_t *g, const uint8_t *x, int32_t x_zero, float x_scale,
                                 const uint8_t *e, int32_t e_zero, float e_scale, const uint16_t *kept,
                                 uint32_t num_kept, const explore_grad_sink_t *sink)
{
    const dense_t d = {g, x, x_zero, e_scale * x_scale, e_scale, sink};
    /* channels not kept contribute zeros: statistics (0, 0) */
    for (uint32_t o = 0, next = 0; o < g->out_c; o++) {
        if (next < num_kept && (kept ? kept[next] : next) == o) {
            next++;
        } else {
            explore_welford_merge(&sink->mean[o], &sink->m2[o], sink->count, 0.0f, 0.0f, (float)g->in_c);
        }
    }
    for (uint32_t k = 0; k < num_kept; k += 4u) {
        uint16_t o[4];
        int32_t err[4];
        uint32_t count = num_kept - k < 4u ? num_kept - k : 4u;
        for (uint32_t i = 0; i < count; i++) {
            o[i] = kept ? kept[k + i] : (uint16_t)(k + i);
            err[i] = (int32_t)e[o[i]] - e_zero;
        }
        if (count == 4u) {
            channels_4(&d, o, err);
        } else if (count == 3u) {
            channels_3(&d, o, err);
        } else if (count == 2u) {
            channels_2(&d, o, err);
        } else {
            channels_1(&d, o, err);
        }
    }
}
