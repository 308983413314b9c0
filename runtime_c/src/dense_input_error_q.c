/* Integer input error of a dense layer (Eq. 1/4): acc[j] = sum over kept outputs c of
 * (e_c - ze)(w[j][c] - zw), for a dense layer or any 1x1 conv over a 1x1 image.  Weights are in Flax
 * layout (in, out): input j's weights over the outputs are one contiguous row, so each acc[j] is a
 * dot product of that row with the centred error vector.  The error is centred once per call (zero
 * for a dropped output: its term vanishes) and the weights' zero point comes out of the sum:
 *     sum_c (e_c - ze)(w - zw) = sum_c (e_c - ze) w - zw sum_c (e_c - ze)   (int32, modulo 2^32).
 * On ARMv7E-M the centred errors are stored as 16-bit pairs (e0, e2), (e1, e3) per four outputs,
 * matching UXTB16 on a word of four weight bytes, so that SMLAD does two products at once; up to
 * eight outputs the pairs stay in registers over all the rows. */
#include "dsp.h"
#include "explore_kernels.h"

/* Outputs whose centred errors the stack holds (a larger layer takes the conv kernel's paths). */
#define OUTPUTS_MAX EXPLORE_DENSE_OUTPUTS_MAX

/* The centred errors of the kept outputs, zeros for the others; returns their sum. */
static int32_t centre_errors(const uint8_t *e, int32_t e_zero, uint32_t out_c, const uint16_t *kept,
                             uint32_t num_kept, int32_t *centred)
{
    for (uint32_t c = 0; c < out_c; c++) {
        centred[c] = 0;
    }
    uint32_t sum = 0;
    for (uint32_t k = 0; k < num_kept; k++) {
        uint32_t c = kept ? kept[k] : k;
        centred[c] = (int32_t)e[c] - e_zero;
        sum += (uint32_t)centred[c];
    }
    return (int32_t)sum;
}

/* acc[j] = row j . centred - correction for rows [from, n), one product at a time. */
static void rows_plain(const int32_t *centred, uint32_t out_c, const uint8_t *w, uint32_t from, uint32_t n,
                       uint32_t correction, int32_t *acc)
{
    for (uint32_t j = from; j < n; j++) {
        const uint8_t *row = w + j * out_c;
        uint32_t a = 0;
        for (uint32_t c = 0; c < out_c; c++) {
            a += (uint32_t)(centred[c] * row[c]);
        }
        acc[j] = (int32_t)(a - correction);
    }
}

#ifdef EXPLORE_USE_DSP
/* Rows [0, n) of at most four outputs, pairs p02 = (e0, e2), p13 = (e1, e3): one word of weights
   per row (the bytes past out_c have zero errors). */
EXPLORE_INNER_LOOP void rows_four(uint32_t p02, uint32_t p13, const uint8_t *w, uint32_t out_c, uint32_t n,
                                  uint32_t correction, int32_t *acc)
{
    for (; n; n--, w += out_c, acc++) {
        uint32_t v = explore_load4(w);
        int32_t a = explore_smlad(explore_bytes02(v), p02, -(int32_t)correction);
        *acc = explore_smlad(explore_bytes13(v), p13, a);
    }
}

/* The same for five to eight outputs: two words per row. */
EXPLORE_INNER_LOOP void rows_eight(const uint32_t *pairs, const uint8_t *w, uint32_t out_c, uint32_t n,
                                   uint32_t correction, int32_t *acc)
{
    const uint32_t p02 = pairs[0], p13 = pairs[1], q02 = pairs[2], q13 = pairs[3];
    for (; n; n--, w += out_c, acc++) {
        uint32_t v = explore_load4(w), u = explore_load4(w + 4);
        int32_t a = explore_smlad(explore_bytes02(v), p02, -(int32_t)correction);
        a = explore_smlad(explore_bytes13(v), p13, a);
        a = explore_smlad(explore_bytes02(u), q02, a);
        *acc = explore_smlad(explore_bytes13(u), q13, a);
    }
}

/* Any number of outputs: `groups` words per row. */
EXPLORE_INNER_LOOP void rows_groups(const uint32_t *pairs, uint32_t groups, const uint8_t *w, uint32_t out_c,
                                    uint32_t n, uint32_t correction, int32_t *acc)
{
    for (; n; n--, w += out_c, acc++) {
        int32_t a = -(int32_t)correction;
        const uint32_t *p = pairs;
        for (const uint8_t *q = w, *end = w + 4u * groups; q != end; q += 4, p += 2) {
            uint32_t v = explore_load4(q);
            a = explore_smlad(explore_bytes02(v), p[0], a);
            a = explore_smlad(explore_bytes13(v), p[1], a);
        }
        *acc = a;
    }
}

/* Rows [0, rows) by SMLAD; returns rows.  A row's word loads reach past its out_c bytes when out_c is
   no multiple of four: into the next row (zero errors), so the last row of the weights is left out. */
static uint32_t rows_dsp(const int32_t *centred, uint32_t out_c, const uint8_t *w, uint32_t n, uint32_t correction,
                         int32_t *acc)
{
    const uint32_t groups = (out_c + 3u) / 4u, rows = out_c % 4u && n ? n - 1u : n;
    uint32_t pairs[OUTPUTS_MAX / 2u];
    for (uint32_t k = 0; k < groups; k++) {
        int32_t v[4];
        for (uint32_t i = 0; i < 4u; i++) {
            v[i] = 4u * k + i < out_c ? centred[4u * k + i] : 0;
        }
        pairs[2u * k] = explore_pair(v[0], v[2]);
        pairs[2u * k + 1u] = explore_pair(v[1], v[3]);
    }
    if (groups == 1u) {
        rows_four(pairs[0], pairs[1], w, out_c, rows, correction, acc);
    } else if (groups == 2u) {
        rows_eight(pairs, w, out_c, rows, correction, acc);
    } else {
        rows_groups(pairs, groups, w, out_c, rows, correction, acc);
    }
    return rows;
}
#endif

void explore_dense_input_error_q(const explore_conv_geom_t *g, const uint8_t *e, int32_t e_zero, const uint8_t *w,
                                 int32_t w_zero, const uint16_t *kept, uint32_t num_kept, int32_t *acc)
{
    const uint32_t out_c = g->out_c, n = g->in_c;
    int32_t centred[OUTPUTS_MAX];
    uint32_t correction = (uint32_t)w_zero * (uint32_t)centre_errors(e, e_zero, out_c, kept, num_kept, centred);
    uint32_t from = 0;
#ifdef EXPLORE_USE_DSP
    from = rows_dsp(centred, out_c, w, n, correction, acc);
#endif
    rows_plain(centred, out_c, w, from, n, correction, acc);
}
