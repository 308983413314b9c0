/* Integer dense forward (design 2): y[c] = clamp(MBQM(sum_j (x_j - zx)(w[j][c] - zw) + b[c]) + zy),
 * for a dense layer (a 1x1 conv over a 1x1 image; weights in Flax layout (in, out), so a channel's
 * weights are out_c bytes apart).  The generated designs' dense heads are small (a few to a hundred
 * inputs, 2 to 16 outputs): the conv paths' per-call machinery (patches, position blocks, chunks)
 * cost more than their multiply-accumulates.  Here the output channels go in blocks of four whose
 * accumulators stay in registers over one pass of the inputs (the channels past the last block: a
 * block of the last four channels, some computed twice, or a single one by itself), and the weights'
 * zero point comes out of
 * the sum once per call:
 *     sum_j (x_j - zx)(w - zw) = sum_j (x_j - zx) w - zw sum_j (x_j - zx)   (int32, modulo 2^32).
 * On ARMv7E-M a block of four channels takes the inputs four at a time: UXTAB16 centres input
 * bytes (j, j+2) and (j+1, j+3) into 16-bit lanes, each channel's raw weight bytes of rows j..j+3
 * are paired the same way from one word load per row (UXTB16, PKHBT / PKHTB), and SMLAD does two
 * multiply-accumulates per instruction. */
#include "dsp.h"
#include "dsp_loops.h"
#include "explore_kernels.h"
#include "requant.h"

/* Output channels whose sums one pass holds (and the stack buffer of the sums). */
#define SUMS_MAX 32u

/* Channels [c, c + 4): acc[k] += sum over inputs [from, n) of (x_j - zx) w[j][c + k]. */
EXPLORE_INLINE void rows_four(const uint8_t *x, uint32_t from, uint32_t n, int32_t x_zero, const uint8_t *w,
                              uint32_t out_c, int32_t *acc)
{
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    const uint8_t *wp = w + from * out_c;
    for (uint32_t j = from; j < n; j++, wp += out_c) {
        int32_t v = (int32_t)x[j] - x_zero;
        a0 += v * wp[0];
        a1 += v * wp[1];
        a2 += v * wp[2];
        a3 += v * wp[3];
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

#ifdef EXPLORE_USE_DSP
/* Rows 4q .. 4q+3 of four channels, q < quads: SMLAD on centred input lanes (j, j+2), (j+1, j+3)
   against raw weight lanes paired the same way. */
EXPLORE_INNER_LOOP void quads_four(const uint8_t *x, uint32_t quads, uint32_t minus_zero, const uint8_t *w,
                                   uint32_t out_c, int32_t *acc)
{
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    for (; quads; quads--, x += 4, w += 4u * out_c) {
        uint32_t v = explore_load4(x);
        uint32_t x02 = __uxtab16(minus_zero, v), x13 = explore_add_bytes13(minus_zero, v);
        uint32_t r0 = explore_load4(w), r1 = explore_load4(w + out_c);
        uint32_t r2 = explore_load4(w + 2u * out_c), r3 = explore_load4(w + 3u * out_c);
        uint32_t e0 = explore_bytes02(r0), e2 = explore_bytes02(r2), e1 = explore_bytes02(r1), e3 = explore_bytes02(r3);
        a0 = explore_smlad(x02, explore_pack_lo(e0, e2), a0);   /* channel 0: rows (j, j+2) */
        a2 = explore_smlad(x02, explore_pack_hi(e0, e2), a2);   /* channel 2 */
        a0 = explore_smlad(x13, explore_pack_lo(e1, e3), a0);   /* rows (j+1, j+3) */
        a2 = explore_smlad(x13, explore_pack_hi(e1, e3), a2);
        uint32_t o0 = explore_bytes13(r0), o2 = explore_bytes13(r2), o1 = explore_bytes13(r1), o3 = explore_bytes13(r3);
        a1 = explore_smlad(x02, explore_pack_lo(o0, o2), a1);   /* channel 1 */
        a3 = explore_smlad(x02, explore_pack_hi(o0, o2), a3);   /* channel 3 */
        a1 = explore_smlad(x13, explore_pack_lo(o1, o3), a1);
        a3 = explore_smlad(x13, explore_pack_hi(o1, o3), a3);
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}
#endif

/* One channel over every input. */
static int32_t block_one(const uint8_t *x, uint32_t n, int32_t x_zero, const uint8_t *w, uint32_t out_c)
{
    int32_t a = 0;
    for (uint32_t j = 0; j < n; j++, w += out_c) {
        a += ((int32_t)x[j] - x_zero) * *w;
    }
    return a;
}

/* Channels [c, c + 4) over every input (w at channel c). */
static void block_four(const uint8_t *x, uint32_t n, int32_t x_zero, const uint8_t *w, uint32_t out_c, int32_t *acc)
{
    uint32_t from = 0;
    acc[0] = acc[1] = acc[2] = acc[3] = 0;
#ifdef EXPLORE_USE_DSP
    from = n & ~3u;
    quads_four(x, n / 4u, explore_pair(-x_zero, -x_zero), w, out_c, acc);
#endif
    rows_four(x, from, n, x_zero, w, out_c, acc);
}

/* Fewer than four channels in all (out_c < 4): on DSP cores the quads of four-channel loads that
   stay inside the weights (the fourth lane, the next row's first channel, is dropped), the other
   rows one channel at a time. */
static void block_narrow(const uint8_t *x, uint32_t n, int32_t x_zero, const uint8_t *w, uint32_t out_c, int32_t *acc)
{
    int32_t four[4] = {0, 0, 0, 0};
    uint32_t from = 0;
#ifdef EXPLORE_USE_DSP
    /* row j's word load ends at byte j out_c + 4, inside the n out_c weight bytes for j out_c + 4 <= n out_c */
    uint32_t rows = n * out_c >= 4u ? (n * out_c - 4u) / out_c + 1u : 0u;
    rows = rows < n ? rows : n;
    from = rows & ~3u;
    quads_four(x, rows / 4u, explore_pair(-x_zero, -x_zero), w, out_c, four);
#endif
    for (uint32_t k = 0; k < out_c; k++) {
        int32_t a = four[k];
        const uint8_t *wp = w + from * out_c + k;
        for (uint32_t j = from; j < n; j++, wp += out_c) {
            a += ((int32_t)x[j] - x_zero) * *wp;
        }
        acc[k] = a;
    }
}

/* acc[c] = sum_j (x_j - zx) w[j][c] - zw sum_j (x_j - zx) + b[c] for channels [c0, c0 + count):
   blocks of four, the channels past them from a block of the last four channels. */
static void channel_sums(const explore_conv_geom_t *g, const explore_conv_q_params_t *p, const uint8_t *x,
                         const uint8_t *w, const int32_t *bias, uint32_t c0, uint32_t count, uint32_t correction,
                         int32_t *acc)
{
    const uint32_t n = g->in_c, out_c = g->out_c;
    uint32_t k = 0;
    if (out_c < 4u) {
        block_narrow(x, n, p->x_zero, w, out_c, acc);
        k = count;
    }
    for (; k + 4u <= count; k += 4u) {
        block_four(x, n, p->x_zero, w + c0 + k, out_c, acc + k);
    }
    if (k + 1u == count) {   /* one channel left: by itself */
        acc[k] = block_one(x, n, p->x_zero, w + c0 + k, out_c);
        k++;
    }
    if (k < count) {   /* out_c >= 4 here, and c0 + count = out_c */
        int32_t last[4];
        block_four(x, n, p->x_zero, w + out_c - 4u, out_c, last);
        for (; k < count; k++) {
            acc[k] = last[4u - (count - k)];
        }
    }
    for (k = 0; k < count; k++) {
        /* uint32: the bias adds with wrap-around like the simulator's int32 (a bias clamped near 2^31) */
        acc[k] = (int32_t)((uint32_t)acc[k] - correction + (uint32_t)bias[c0 + k]);
    }
}

#ifdef EXPLORE_USE_DSP
EXPLORE_INNER_LOOP void requant_small_full(const explore_requant_t *rq, const int32_t *acc, uint32_t n, uint8_t *y)
{
    explore_requant_small(rq, acc, n, y, 1);
}

EXPLORE_INNER_LOOP void requant_small_any(const explore_requant_t *rq, const int32_t *acc, uint32_t n, uint8_t *y)
{
    explore_requant_small(rq, acc, n, y, 0);
}
#endif

/* y[k] = requantized acc[k]: on DSP cores one SMMULR each where the sums allow (requant.h). */
static void requant_run(const explore_requant_t *rq, int small, const int32_t *acc, uint32_t n, uint8_t *y)
{
#ifdef EXPLORE_USE_DSP
    if (small) {
        if (rq->low == 0 && rq->high == 255) {
            requant_small_full(rq, acc, n, y);
        } else {
            requant_small_any(rq, acc, n, y);
        }
        return;
    }
#else
    (void)small;
#endif
    const explore_requant_t r = *rq;   /* a local: the byte stores cannot alias it */
    for (uint32_t k = 0; k < n; k++) {
        y[k] = explore_requant(&r, acc[k]);
    }
}

/* The sum of n bytes (USADA8: four per instruction on DSP cores). */
static uint32_t byte_sum(const uint8_t *x, uint32_t n)
{
    uint32_t sum = 0, j = 0;
#ifdef EXPLORE_USE_DSP
    for (; j + 4u <= n; j += 4u) {
        sum = __usada8(explore_load4(x + j), 0u, sum);
    }
#endif
    for (; j < n; j++) {
        sum += x[j];
    }
    return sum;
}

void explore_dense_forward_q(const explore_conv_geom_t *g, const explore_conv_q_params_t *p, const uint8_t *x,
                             const uint8_t *w, const int32_t *bias, uint8_t *y)
{
    const explore_requant_t rq = explore_requant_prepare(p);
    const uint32_t correction = (uint32_t)p->w_zero * (byte_sum(x, g->in_c) - (uint32_t)p->x_zero * g->in_c);
    int small = 0;
#ifdef EXPLORE_USE_DSP
    /* a sum's terms: in_c products below 2^16 each, and zw sum (x - zx) as much again */
    small = g->in_c < 4096u && explore_requant_small_fits(&rq, bias, g->out_c, (int32_t)(2u * g->in_c * 65536u));
#endif
    int32_t acc[SUMS_MAX];
    for (uint32_t c0 = 0; c0 < g->out_c; c0 += SUMS_MAX) {
        uint32_t count = g->out_c - c0 < SUMS_MAX ? g->out_c - c0 : SUMS_MAX;
        channel_sums(g, p, x, w, bias, c0, count, correction, acc);
        requant_run(&rq, small, acc, count, y + c0);
    }
}
