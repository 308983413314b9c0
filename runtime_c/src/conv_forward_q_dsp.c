/* Integer conv / dense forward on ARMv7E-M (SMLAD), the non-depthwise case of conv_forward_q.c.
 *
 * Two output positions at a time: their centred input patches are gathered (widened to int16) once
 * and every pair of output channels is dotted against both, so each regrouped weight serves two
 * positions.  Weights stay in the bundle's (kh, kw, in, out) layout: rows j and j+1 of a channel are
 * out_c bytes apart, so four rows of two channels are loaded as four halfwords and regrouped with
 * UXTB16.  The patch is stored in quads (x0, x2, x1, x3) so that (row j, row j+2) lanes pair with
 * the regrouped weights.  The fan-in is processed in chunks of at most EXPLORE_PATCH_MAX elements, so any
 * fan-in takes this path.
 *
 * sum (x - zx)(w - zw) = sum (x - zx) w - zw sum (x - zx): the weights' zero point is applied once
 * per output and the inner loops multiply raw weight codes. */
#include "dsp.h"
#include "dsp_loops.h"
#include "requant.h"

#ifdef EXPLORE_USE_DSP
/* Elements of one patch chunk (two chunks live on the stack: 2 KB). */
/* Output channels whose accumulators live on the stack while the fan-in chunks go by. */
#define GROUP_MAX 32u

typedef struct {
    const explore_conv_geom_t *g;
    const uint8_t *x, *w;
    const int32_t *bias;
    uint8_t *y;
    int32_t x_zero, w_zero;
    explore_requant_t rq;
    uint32_t fan, chunk;
} forward_t;

/* Where element k of a chunk of len elements is stored: quads are (0, 2, 1, 3), the tail as is. */
static uint32_t slot(uint32_t k, uint32_t len)
{
    if (k >= (len & ~3u)) {
        return k;
    }
    return (k & ~3u) | ((k & 1u) << 1) | ((k >> 1) & 1u);
}

/* Bytes 0 and 2 (1 and 3) of v added to the 16-bit lanes of a: with a = (-zx, -zx) modulo 2^16,
   two centred inputs per instruction. */
static inline uint32_t add_bytes02(uint32_t a, uint32_t v)
{
    return __uxtab16(a, v);
}

static inline uint32_t add_bytes13(uint32_t a, uint32_t v)
{
    uint32_t r;
    __asm__("uxtab16 %0, %1, %2, ror #8" : "=r"(r) : "r"(a), "r"(v));
    return r;
}

/* One word of four inputs as two quad words (x0 - zx, x2 - zx), (x1 - zx, x3 - zx); returns
   the running sum of the raw bytes. */
EXPLORE_INLINE uint32_t widen_word(uint32_t v, uint32_t minus_zero, int16_t *dst, uint32_t raw)
{
    uint32_t even = add_bytes02(minus_zero, v), odd = add_bytes13(minus_zero, v);
    memcpy(dst, &even, sizeof even);
    memcpy(dst + 2, &odd, sizeof odd);
    return __usada8(v, 0u, raw);
}

/* n centred inputs, n a multiple of 4, written as quads; returns their sum. */
static int32_t widen_quads(const uint8_t *src, uint32_t n, int32_t x_zero, int16_t *dst)
{
    const uint32_t minus_zero = explore_pair(-x_zero, -x_zero);
    uint32_t raw = 0, k = 0;
    for (; k + 8 <= n; k += 8) {
        uint32_t v = explore_load4(src + k), u = explore_load4(src + k + 4);
        raw = widen_word(v, minus_zero, dst + k, raw);
        raw = widen_word(u, minus_zero, dst + k + 4, raw);
    }
    if (k < n) {
        raw = widen_word(explore_load4(src + k), minus_zero, dst + k, raw);
    }
    return (int32_t)raw - x_zero * (int32_t)n;
}

/* n centred inputs at element k of a chunk of len, one at a time; returns their sum. */
static int32_t widen_slots(const uint8_t *src, uint32_t n, int32_t x_zero, int16_t *patch, uint32_t k,
                           uint32_t len)
{
    int32_t sum = 0;
    for (uint32_t i = 0; i < n; i++) {
        int32_t v = (int32_t)src[i] - x_zero;
        patch[slot(k + i, len)] = (int16_t)v;
        sum += v;
    }
    return sum;
}

/* Elements [j0, j0 + len) of the centred patch of output position pos (padding taps as zeros);
   returns their sum.  The elements run over taps (kh, kw) and, within a tap, input channels. */
static int32_t gather(const forward_t *f, uint32_t pos, uint32_t j0, uint32_t len, int16_t *patch)
{
    const explore_conv_geom_t *g = f->g;
    uint32_t oh = pos / g->out_w, ow = pos % g->out_w;
    uint32_t tap = j0 / g->in_c, ci = j0 % g->in_c;
    int32_t sum = 0;
    for (uint32_t k = 0; k < len; k += g->in_c - ci, ci = 0, tap++) {
        uint32_t n = g->in_c - ci < len - k ? g->in_c - ci : len - k;
        int32_t ih = explore_conv_in_row(g, oh, tap / g->k_w), iw = explore_conv_in_col(g, ow, tap % g->k_w);
        const uint8_t *src = f->x + ((uint32_t)ih * g->in_w + (uint32_t)iw) * g->in_c + ci;
        int whole_quads = (k | n) % 4u == 0 && k + n <= (len & ~3u);
        if (ih >= 0 && iw >= 0) {
            sum += whole_quads ? widen_quads(src, n, f->x_zero, patch + k)
                               : widen_slots(src, n, f->x_zero, patch, k, len);
        } else if (whole_quads) {
            memset(patch + k, 0, n * sizeof *patch);   /* padding is real zero: (x - zx) = 0 */
        } else {
            for (uint32_t i = 0; i < n; i++) {
                patch[slot(k + i, len)] = 0;
            }
        }
    }
    return sum;
}

/* The compiler would otherwise keep a pointer per row (and spill): the value becomes opaque. */
#define EXPLORE_OPAQUE(v) __asm__("" : "+r"(v))

/* Rows j, j+2 (even) and j+1, j+3 (odd) of channels o, o+1 at *w, as bytes (row, channel):
   (j, o) (j, o+1) (j+2, o) (j+2, o+1); UXTB16 then gives channel o's lanes, ror 8 channel o+1's.
   Advances *w by four rows. */
EXPLORE_INLINE void load_rows(const uint8_t **w, uint32_t out_c, uint32_t *even, uint32_t *odd)
{
    uint16_t r0, r1, r2, r3;
    const uint8_t *p = *w;
    memcpy(&r0, p, sizeof r0);
    memcpy(&r1, p + out_c, sizeof r1);
    p += 2u * out_c;
    EXPLORE_OPAQUE(p);
    memcpy(&r2, p, sizeof r2);
    memcpy(&r3, p + out_c, sizeof r3);
    p += 2u * out_c;
    EXPLORE_OPAQUE(p);
    *w = p;
    *even = (uint32_t)r0 | ((uint32_t)r2 << 16);
    *odd = (uint32_t)r1 | ((uint32_t)r3 << 16);
}

/* Two 16-bit lanes of a patch. */
EXPLORE_INLINE uint32_t lanes(const int16_t *p)
{
    return explore_load4((const uint8_t *)p);
}

/* Output channels o, o+1 at two positions, patches p0 and p0 + EXPLORE_PATCH_MAX, over quads * 4 rows:
   acc[2 * position + channel] += sum_j patch[j] * w[j][o + channel] over raw weight codes. */
void explore_dsp_dot_two_by_two(const int16_t *p0, uint32_t quads, const uint8_t *w, uint32_t out_c, int32_t *acc)
{
    int32_t a00 = acc[0], a01 = acc[1], a10 = acc[2], a11 = acc[3];
    for (const int16_t *end = p0 + 4u * quads; p0 != end; p0 += 4) {
        uint32_t even, odd;
        load_rows(&w, out_c, &even, &odd);
        uint32_t c0 = explore_bytes02(even), c1 = explore_bytes13(even);
        uint32_t x = lanes(p0), y = lanes(p0 + EXPLORE_PATCH_MAX);
        a00 = explore_smlad(x, c0, a00);
        a01 = explore_smlad(x, c1, a01);
        a10 = explore_smlad(y, c0, a10);
        a11 = explore_smlad(y, c1, a11);
        c0 = explore_bytes02(odd);
        c1 = explore_bytes13(odd);
        x = lanes(p0 + 2);
        y = lanes(p0 + EXPLORE_PATCH_MAX + 2);
        a00 = explore_smlad(x, c0, a00);
        a01 = explore_smlad(x, c1, a01);
        a10 = explore_smlad(y, c0, a10);
        a11 = explore_smlad(y, c1, a11);
    }
    acc[0] = a00;
    acc[1] = a01;
    acc[2] = a10;
    acc[3] = a11;
}

/* The same for one position. */
EXPLORE_INNER_LOOP void dot_one_by_two(const int16_t *p0, uint32_t quads, const uint8_t *w, uint32_t out_c,
                                       int32_t *acc)
{
    int32_t a0 = acc[0], a1 = acc[1];
    for (const int16_t *end = p0 + 4u * quads; p0 != end; p0 += 4) {
        uint32_t even, odd;
        load_rows(&w, out_c, &even, &odd);
        uint32_t x02 = lanes(p0), x13 = lanes(p0 + 2);
        a0 = explore_smlad(x02, explore_bytes02(even), a0);
        a1 = explore_smlad(x02, explore_bytes13(even), a1);
        a0 = explore_smlad(x13, explore_bytes02(odd), a0);
        a1 = explore_smlad(x13, explore_bytes13(odd), a1);
    }
    acc[0] = a0;
    acc[1] = a1;
}

/* Channel pair (c, c + 1) of count positions over the tail rows [from, len) of a chunk (stored as is). */
static void dot_tail(int16_t (*patches)[EXPLORE_PATCH_MAX], uint32_t count, uint32_t from, uint32_t len,
                     const uint8_t *w, uint32_t out_c, int32_t *a)
{
    for (uint32_t at = 0; at < count; at++) {
        for (uint32_t k = from; k < len; k++) {
            a[2 * at] += patches[at][k] * w[k * out_c];
            a[2 * at + 1] += patches[at][k] * w[k * out_c + 1];
        }
    }
}

/* One channel of one position over a whole chunk. */
static int32_t dot_linear(const int16_t *patch, uint32_t len, const uint8_t *w, uint32_t out_c)
{
    int32_t acc = 0;
    for (uint32_t k = 0; k < len; k++) {
        acc += patch[slot(k, len)] * w[k * out_c];
    }
    return acc;
}

/* acc[channel - c0][position] += the chunk's dot, channels [c0, c0 + cn). */
static void dot_chunk(const forward_t *f, int16_t (*patches)[EXPLORE_PATCH_MAX], uint32_t count, uint32_t len,
                      const uint8_t *w, uint32_t c0, uint32_t cn, int32_t (*acc)[2])
{
    const uint32_t out_c = f->g->out_c, quads = len / 4u;
    uint32_t c = 0;
    for (; c + 2 <= cn; c += 2) {
        /* acc rows c, c + 1 are (position 0, position 1) each: a = (p0 c, p1 c, p0 c+1, p1 c+1) */
        int32_t *a = acc[c];
        int32_t pair[4] = {a[0], a[2], a[1], a[3]};
        if (count == 2) {
            explore_dsp_dot_two_by_two(patches[0], quads, w + c0 + c, out_c, pair);
        } else {
            dot_one_by_two(patches[0], quads, w + c0 + c, out_c, pair);
        }
        if (len % 4u) {
            dot_tail(patches, count, 4u * quads, len, w + c0 + c, out_c, pair);
        }
        a[0] = pair[0];
        a[2] = pair[1];
        a[1] = pair[2];
        a[3] = pair[3];
    }
    for (; c < cn; c++) {
        for (uint32_t at = 0; at < count; at++) {
            acc[c][at] += dot_linear(patches[at], len, w + c0 + c, out_c);
        }
    }
}

static void store_group(const forward_t *f, int32_t (*acc)[2], uint32_t at, int32_t sum, uint32_t c0, uint32_t cn,
                        uint8_t *y)
{
    const explore_requant_t rq = f->rq;   /* a local: the byte stores below cannot alias it */
    const int32_t *bias = f->bias + c0;
    /* uint32: the bias adds with wrap-around like the simulator's int32 (a bias clamped near 2^31) */
    uint32_t correction = (uint32_t)f->w_zero * (uint32_t)sum;
    for (uint32_t c = 0; c < cn; c++) {
        y[c0 + c] = explore_requant(&rq, (int32_t)((uint32_t)acc[c][at] - correction + (uint32_t)bias[c]));
    }
}

/* Output positions first .. first + count - 1 (count 1 or 2). */
static void forward_positions(const forward_t *f, uint32_t first, uint32_t count)
{
    const explore_conv_geom_t *g = f->g;
    int16_t patches[2][EXPLORE_PATCH_MAX];
    int32_t sums[2] = {0, 0};
    int32_t acc[GROUP_MAX][2];
    int single_chunk = f->chunk >= f->fan;
    for (uint32_t c0 = 0; c0 < g->out_c; c0 += GROUP_MAX) {
        uint32_t cn = g->out_c - c0 < GROUP_MAX ? g->out_c - c0 : GROUP_MAX;
        memset(acc, 0, cn * sizeof acc[0]);
        for (uint32_t j0 = 0; j0 < f->fan; j0 += f->chunk) {
            uint32_t len = f->fan - j0 < f->chunk ? f->fan - j0 : f->chunk;
            if (!single_chunk || c0 == 0) {   /* a single chunk is gathered once for all groups */
                for (uint32_t at = 0; at < count; at++) {
                    sums[at] = (j0 == 0 ? 0 : sums[at]) + gather(f, first + at, j0, len, patches[at]);
                }
            }
            dot_chunk(f, patches, count, len, f->w + j0 * g->out_c, c0, cn, acc);
        }
        for (uint32_t at = 0; at < count; at++) {
            store_group(f, acc, at, sums[at], c0, cn, f->y + (first + at) * g->out_c);
        }
    }
}

int explore_conv_forward_q_dsp(const explore_conv_geom_t *g, const explore_conv_q_params_t *p, const uint8_t *x,
                               const uint8_t *w, const int32_t *bias, uint8_t *y)
{
    if (g->depthwise) {
        return 0;
    }
    forward_t f = {g, x, w, bias, y, p->x_zero, p->w_zero, explore_requant_prepare(p), explore_conv_fan_in(g), 0};
    /* whole taps per chunk where a tap fits, so that a chunk's taps start quad-aligned */
    f.chunk = g->in_c <= EXPLORE_PATCH_MAX ? EXPLORE_PATCH_MAX / g->in_c * g->in_c : EXPLORE_PATCH_MAX;
    uint32_t positions = g->out_h * g->out_w;
    uint32_t pos = 0;
    for (; pos + 2 <= positions; pos += 2) {
        forward_positions(&f, pos, 2);
    }
    if (pos < positions) {
        forward_positions(&f, pos, 1);
    }
    return 1;
}
#endif
