/* Integer conv / dense forward on ARMv7E-M (SMLAD), the non-depthwise case of conv_forward_q.c.
 *
 * Three output positions at a time: their centred input patches are gathered (widened to int16)
 * once, and every pair of output channels is dotted against all three, so each regrouped weight
 * serves three positions.  Weights stay in the bundle's (kh, kw, in, out) layout: rows j and j+1 of
 * a channel are out_c bytes apart, so four rows of two channels are loaded as four halfwords and
 * regrouped with UXTB16.  The patch is stored in quads (x0, x2, x1, x3) so that its words pair
 * (row j, row j+2) like the regrouped weights.  A single position (a dense layer, the last of an
 * image) has no position to share the weights with and takes four channels per pass instead.  The
 * fan-in goes by in chunks of at most EXPLORE_PATCH_MAX elements, so any fan-in takes this path.
 *
 * sum (x - zx)(w - zw) = sum (x - zx) w - zw sum (x - zx): the weights' zero point is applied once
 * per output and the inner loops multiply raw weight codes. */
#include "dsp.h"
#include "dsp_loops.h"
#include "requant.h"

#ifdef EXPLORE_USE_DSP
/* Output channels whose accumulators live on the stack while the fan-in chunks go by. */
#define GROUP_MAX 32u
/* Positions whose patches one pass over the regrouped weights serves (the stack holds their
   patches: 3 x EXPLORE_PATCH_MAX x 2 bytes = 1.9 KB). */
#define POSITIONS 3u

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

/* A chunk of the patch being gathered: elements [j0, j0 + len) of the fan-in. */
typedef struct {
    int16_t *patch;
    uint32_t j0, len;
    int32_t x_zero;
} chunk_t;

/* Fan-in elements [from, to) (clipped to the chunk) from src (the input of element from), or zeros
   where src is NULL (padding is real zero: (x - zx) = 0); returns their centred sum. */
static int32_t put_run(const chunk_t *c, uint32_t from, uint32_t to, const uint8_t *src)
{
    uint32_t end = c->j0 + c->len;
    uint32_t lo = from > c->j0 ? from : c->j0, hi = to < end ? to : end;
    if (lo >= hi) {
        return 0;
    }
    uint32_t k = lo - c->j0, n = hi - lo;
    int whole_quads = (k | n) % 4u == 0 && k + n <= (c->len & ~3u);
    if (src) {
        src += lo - from;
        return whole_quads ? widen_quads(src, n, c->x_zero, c->patch + k)
                           : widen_slots(src, n, c->x_zero, c->patch, k, c->len);
    }
    if (whole_quads) {
        memset(c->patch + k, 0, n * sizeof *c->patch);
        return 0;
    }
    for (uint32_t i = 0; i < n; i++) {
        c->patch[slot(k + i, c->len)] = 0;
    }
    return 0;
}

/* Elements [j0, j0 + len) of the centred patch of output position pos (padding taps as zeros);
   returns their sum.  The fan-in runs over kernel rows kh, and within a row over (kw, ci): the
   row's taps inside the image read one contiguous run of the input. */
static int32_t gather(const forward_t *f, uint32_t pos, uint32_t j0, uint32_t len, int16_t *patch)
{
    const explore_conv_geom_t g = *f->g;   /* a local: the patch stores cannot alias it */
    const chunk_t c = {patch, j0, len, f->x_zero};
    uint32_t oh = pos / g.out_w, ow = pos - oh * g.out_w;
    int32_t row0 = (int32_t)(oh * g.stride_h) - (int32_t)g.pad_top;
    int32_t col0 = (int32_t)(ow * g.stride_w) - (int32_t)g.pad_left;
    /* the kernel columns [kw0, kw1) inside the image */
    uint32_t kw0 = col0 < 0 ? (uint32_t)-col0 : 0u;
    int32_t right = (int32_t)g.in_w - col0;
    uint32_t kw1 = right < (int32_t)g.k_w ? (right > 0 ? (uint32_t)right : 0u) : g.k_w;
    kw1 = kw1 > kw0 ? kw1 : kw0;
    const uint32_t row_len = g.k_w * g.in_c;
    int32_t sum = 0;
    for (uint32_t kh = j0 / row_len, base = kh * row_len; base < j0 + len; kh++, base += row_len) {
        uint32_t ih = (uint32_t)(row0 + (int32_t)kh);
        if (ih >= g.in_h || kw0 == kw1) {
            put_run(&c, base, base + row_len, NULL);
            continue;
        }
        const uint8_t *src = f->x + (ih * g.in_w + (uint32_t)(col0 + (int32_t)kw0)) * g.in_c;
        if (kw0) {
            put_run(&c, base, base + kw0 * g.in_c, NULL);
        }
        sum += put_run(&c, base + kw0 * g.in_c, base + kw1 * g.in_c, src);
        if (kw1 < g.k_w) {
            put_run(&c, base + kw1 * g.in_c, base + row_len, NULL);
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

/* Output channels o, o+1 at three positions, patches p0 + k * EXPLORE_PATCH_MAX, over quads * 4 rows:
   acc[stride * position + channel] += sum_j patch[j] * w[j][o + channel] over raw weight codes.  The
   regrouped weights of a quad serve all three positions.  Written as one asm block: the 14
   registers it needs leave the compiler none to spill with, and it did spill. */
void explore_dsp_dot_three_by_two(const int16_t *p0, uint32_t quads, const uint8_t *w, uint32_t out_c, int32_t *acc,
                                  uint32_t stride)
{
    int32_t *acc1 = acc + stride, *acc2 = acc + 2u * stride;
    int32_t a00 = acc[0], a01 = acc[1], a10 = acc1[0], a11 = acc1[1], a20 = acc2[0], a21 = acc2[1];
    uint32_t t0, t1, t2, t3;
    if (quads) {
        __asm__ volatile(
            "1:\n\t"
            "ldrh %[t0], [%[w]]\n\t"                   /* rows j and j+2 of channels o, o+1: even */
            "ldrh %[t1], [%[w], %[oc]]\n\t"            /* rows j+1 and j+3: odd */
            "add %[w], %[w], %[oc], lsl #1\n\t"
            "ldrh %[t2], [%[w]]\n\t"
            "orr %[t0], %[t0], %[t2], lsl #16\n\t"
            "ldrh %[t2], [%[w], %[oc]]\n\t"
            "add %[w], %[w], %[oc], lsl #1\n\t"
            "orr %[t1], %[t1], %[t2], lsl #16\n\t"
            "uxtb16 %[t2], %[t0]\n\t"                   /* channel o, rows (j, j+2) */
            "uxtb16 %[t0], %[t0], ror #8\n\t"           /* channel o+1 */
            "ldr %[t3], [%[p]]\n\t"
            "smlad %[a00], %[t3], %[t2], %[a00]\n\t"
            "smlad %[a01], %[t3], %[t0], %[a01]\n\t"
            "ldr %[t3], [%[p], #%c[s1]]\n\t"
            "smlad %[a10], %[t3], %[t2], %[a10]\n\t"
            "smlad %[a11], %[t3], %[t0], %[a11]\n\t"
            "ldr %[t3], [%[p], #%c[s2]]\n\t"
            "smlad %[a20], %[t3], %[t2], %[a20]\n\t"
            "smlad %[a21], %[t3], %[t0], %[a21]\n\t"
            "uxtb16 %[t2], %[t1]\n\t"                   /* channel o, rows (j+1, j+3) */
            "uxtb16 %[t1], %[t1], ror #8\n\t"
            "ldr %[t3], [%[p], #4]\n\t"
            "smlad %[a00], %[t3], %[t2], %[a00]\n\t"
            "smlad %[a01], %[t3], %[t1], %[a01]\n\t"
            "ldr %[t3], [%[p], #%c[s1] + 4]\n\t"
            "smlad %[a10], %[t3], %[t2], %[a10]\n\t"
            "smlad %[a11], %[t3], %[t1], %[a11]\n\t"
            "ldr %[t3], [%[p], #%c[s2] + 4]\n\t"
            "add %[p], %[p], #8\n\t"
            "smlad %[a20], %[t3], %[t2], %[a20]\n\t"
            "smlad %[a21], %[t3], %[t1], %[a21]\n\t"
            "subs %[n], %[n], #1\n\t"
            "bne 1b"
            : [a00] "+r"(a00), [a01] "+r"(a01), [a10] "+r"(a10), [a11] "+r"(a11), [a20] "+r"(a20),
              [a21] "+r"(a21), [p] "+r"(p0), [w] "+r"(w), [n] "+r"(quads), [t0] "=&r"(t0), [t1] "=&r"(t1),
              [t2] "=&r"(t2), [t3] "=&r"(t3)
            : [oc] "r"(out_c), [s1] "i"(2u * EXPLORE_PATCH_MAX), [s2] "i"(4u * EXPLORE_PATCH_MAX)
            : "cc", "memory");
    }
    acc[0] = a00;
    acc[1] = a01;
    acc1[0] = a10;
    acc1[1] = a11;
    acc2[0] = a20;
    acc2[1] = a21;
}

/* Output channels o .. o+3 at one position over quads * 4 rows: acc[channel] += sum_j patch[j] *
   w[j][o + channel].  Without other positions to share them, the weights are loaded as words (four
   channels of a row) and the rows (j, j+2) of each channel paired with UXTB16 and PKHBT / PKHTB. */
EXPLORE_INNER_LOOP void dot_one_by_four(const int16_t *p, uint32_t quads, const uint8_t *w, uint32_t out_c,
                                        int32_t *acc)
{
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    uint32_t ta, tc, t0, t1, t2, x;
#define EXPLORE_ROWS_J_J2(next)                                                           \
    "ldr %[ta], [%[w]]\n\t"                /* row j, channels o .. o+3 */                \
    "ldr %[tc], [%[w], %[oc], lsl #1]\n\t" /* row j+2 */                                \
    "ldr %[x], [%[p]], #4\n\t"                                                           \
    "uxtb16 %[t0], %[ta]\n\t"                                                            \
    "uxtb16 %[t1], %[tc]\n\t"                                                            \
    "pkhbt %[t2], %[t0], %[t1], lsl #16\n\t" /* channel o, rows (j, j+2) */              \
    "smlad %[a0], %[x], %[t2], %[a0]\n\t"                                                \
    "pkhtb %[t2], %[t1], %[t0], asr #16\n\t" /* channel o+2 */                           \
    "smlad %[a2], %[x], %[t2], %[a2]\n\t"                                                \
    "uxtb16 %[t0], %[ta], ror #8\n\t"                                                    \
    "uxtb16 %[t1], %[tc], ror #8\n\t"                                                    \
    "pkhbt %[t2], %[t0], %[t1], lsl #16\n\t" /* channel o+1 */                           \
    "smlad %[a1], %[x], %[t2], %[a1]\n\t"                                                \
    "pkhtb %[t2], %[t1], %[t0], asr #16\n\t" /* channel o+3 */                           \
    "smlad %[a3], %[x], %[t2], %[a3]\n\t"                                                \
    next
    if (quads) {
        __asm__ volatile("1:\n\t"
                         EXPLORE_ROWS_J_J2("add %[w], %[w], %[oc]\n\t")             /* rows j+1, j+3 next */
                         EXPLORE_ROWS_J_J2("add %[w], %[w], %[oc], lsl #1\n\t"           /* row j+4 next */
                                           "add %[w], %[w], %[oc]\n\t")
                         "subs %[n], %[n], #1\n\t"
                         "bne 1b"
                         : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [p] "+r"(p), [w] "+r"(w),
                           [n] "+r"(quads), [ta] "=&r"(ta), [tc] "=&r"(tc), [t0] "=&r"(t0), [t1] "=&r"(t1),
                           [t2] "=&r"(t2), [x] "=&r"(x)
                         : [oc] "r"(out_c)
                         : "cc", "memory");
    }
#undef EXPLORE_ROWS_J_J2
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

/* The same for two channels (the odd pair left over by dot_one_by_four). */
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

/* acc[position][c] += the quads' dot for channel pairs c < cn (cn even), count = 1 or POSITIONS. */
static void dot_pairs(int16_t (*patches)[EXPLORE_PATCH_MAX], uint32_t count, uint32_t quads, const uint8_t *w,
                      uint32_t out_c, uint32_t cn, int32_t (*acc)[GROUP_MAX])
{
    uint32_t c = 0;
    if (count == POSITIONS) {
        for (; c < cn; c += 2) {
            explore_dsp_dot_three_by_two(patches[0], quads, w + c, out_c, &acc[0][c], GROUP_MAX);
        }
        return;
    }
    for (; c + 4 <= cn; c += 4) {
        dot_one_by_four(patches[0], quads, w + c, out_c, &acc[0][c]);
    }
    if (c < cn) {
        dot_one_by_two(patches[0], quads, w + c, out_c, &acc[0][c]);
    }
}

/* acc[position][channel - c0] += the chunk's dot, channels [c0, c0 + cn); count is 1 or POSITIONS. */
static void dot_chunk(const forward_t *f, int16_t (*patches)[EXPLORE_PATCH_MAX], uint32_t count, uint32_t len,
                      const uint8_t *w, uint32_t c0, uint32_t cn, int32_t (*acc)[GROUP_MAX])
{
    const uint32_t out_c = f->g->out_c, quads = len / 4u, pairs_end = cn & ~1u;
    dot_pairs(patches, count, quads, w + c0, out_c, pairs_end, acc);
    for (uint32_t c = 0; c < pairs_end && len % 4u; c += 2) {
        int32_t pair[2 * POSITIONS] = {0};
        dot_tail(patches, count, 4u * quads, len, w + c0 + c, out_c, pair);
        for (uint32_t at = 0; at < count; at++) {
            acc[at][c] += pair[2 * at];
            acc[at][c + 1] += pair[2 * at + 1];
        }
    }
    if (pairs_end < cn) {
        for (uint32_t at = 0; at < count; at++) {
            acc[at][pairs_end] += dot_linear(patches[at], len, w + c0 + pairs_end, out_c);
        }
    }
}

/* y[c] = requantized acc[c] - zw * sum + bias[c] for cn channels. */
EXPLORE_INLINE void requant_row(const explore_requant_t *rq, const int32_t *acc, uint32_t correction,
                                const int32_t *bias, uint32_t cn, uint8_t *y)
{
    for (uint32_t c = 0; c < cn; c++) {
        /* uint32: the bias adds with wrap-around like the simulator's int32 (a bias clamped near 2^31) */
        y[c] = explore_requant(rq, (int32_t)((uint32_t)acc[c] - correction + (uint32_t)bias[c]));
    }
}

static void store_group(const forward_t *f, const int32_t *acc, int32_t sum, uint32_t c0, uint32_t cn, uint8_t *y)
{
    explore_requant_t rq = f->rq;   /* a local: the byte stores cannot alias it */
    uint32_t correction = (uint32_t)f->w_zero * (uint32_t)sum;
    if (rq.left) {
        requant_row(&rq, acc, correction, f->bias + c0, cn, y + c0);
    } else {
        rq.left = 0;   /* known to the compiler: the saturating left shift drops out of the loop */
        requant_row(&rq, acc, correction, f->bias + c0, cn, y + c0);
    }
}

/* Output positions first .. first + count - 1 (count 1 to POSITIONS; 2 is computed as 3 with the
   last position twice). */
static void forward_positions(const forward_t *f, uint32_t first, uint32_t count)
{
    const explore_conv_geom_t *g = f->g;
    const uint32_t width = count == 1 ? 1u : POSITIONS;
    int16_t patches[POSITIONS][EXPLORE_PATCH_MAX];
    int32_t sums[POSITIONS] = {0};
    int32_t acc[POSITIONS][GROUP_MAX];
    int single_chunk = f->chunk >= f->fan;
    for (uint32_t c0 = 0; c0 < g->out_c; c0 += GROUP_MAX) {
        uint32_t cn = g->out_c - c0 < GROUP_MAX ? g->out_c - c0 : GROUP_MAX;
        memset(acc, 0, sizeof acc);
        for (uint32_t j0 = 0; j0 < f->fan; j0 += f->chunk) {
            uint32_t len = f->fan - j0 < f->chunk ? f->fan - j0 : f->chunk;
            if (!single_chunk || c0 == 0) {   /* a single chunk is gathered once for all groups */
                for (uint32_t at = 0; at < width; at++) {
                    uint32_t pos = first + (at < count ? at : count - 1);
                    sums[at] = (j0 == 0 ? 0 : sums[at]) + gather(f, pos, j0, len, patches[at]);
                }
            }
            dot_chunk(f, patches, width, len, f->w + j0 * g->out_c, c0, cn, acc);
        }
        for (uint32_t at = 0; at < count; at++) {
            store_group(f, acc[at], sums[at], c0, cn, f->y + (first + at) * g->out_c);
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
    for (; pos < positions; pos += POSITIONS) {
        forward_positions(&f, pos, positions - pos < POSITIONS ? positions - pos : POSITIONS);
    }
    return 1;
}
#endif
