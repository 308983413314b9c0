/* The SMLAD inner loops of explore_conv_weight_grad_q (ARMv7E-M DSP cores): input channels ci,
 * ci + 1 of one kernel tap against the error columns of two or four kept channels, two output
 * positions per SMLAD. */
#include <string.h>

#include "backward_loops.h"

#ifdef EXPLORE_USE_DSP
/* Input channels ci, ci+1 against two error columns over a window (raw input codes): acc = {(ci, a),
   (ci+1, a), (ci, b), (ci+1, b)}; two positions per SMLAD, the input bytes regrouped into
   (position, next position) lanes. */
void explore_grad_two_by_two(const explore_conv_geom_t *g, const uint8_t *x, const int16_t *column_a,
                             const int16_t *column_b, const explore_grad_window_t *t, uint32_t ci, int32_t *acc)
{
    int32_t a0 = 0, a1 = 0, b0 = 0, b1 = 0;
    const uint32_t step = g->stride_w * g->in_c;
    const uint32_t row_step = g->stride_h * g->in_w * g->in_c;
    const uint32_t pairs = (t->ow1 - t->ow0) / 2u, odd = (t->ow1 - t->ow0) % 2u;
    const uint8_t *row = x + ((uint32_t)t->row0 * g->in_w + (uint32_t)t->col0) * g->in_c + ci;
    const uint32_t first_column = t->oh0 * g->out_w + t->ow0;
    const int16_t *row_a = column_a + first_column, *row_b = column_b + first_column;
    for (uint32_t rows = t->oh1 - t->oh0; rows; rows--, row += row_step, row_a += g->out_w, row_b += g->out_w) {
        const uint8_t *xp = row;
        const int16_t *pa = row_a, *pb = row_b;
        for (uint32_t n = pairs; n; n--) {
            uint16_t h0, h1;
            uint32_t ea, eb;
            memcpy(&h0, xp, sizeof h0);
            memcpy(&h1, xp + step, sizeof h1);
            xp += 2u * step;
            memcpy(&ea, pa, sizeof ea);
            memcpy(&eb, pb, sizeof eb);
            pa += 2;
            pb += 2;
            /* bytes (p0 ci, p0 ci+1, p1 ci, p1 ci+1) -> lanes (p0, p1) of ci, and of ci + 1 */
            uint32_t both = (uint32_t)h0 | ((uint32_t)h1 << 16);
            uint32_t first = explore_bytes02(both), second = explore_bytes13(both);
            a0 = explore_smlad(first, ea, a0);
            a1 = explore_smlad(second, ea, a1);
            b0 = explore_smlad(first, eb, b0);
            b1 = explore_smlad(second, eb, b1);
        }
        if (odd) {
            a0 += xp[0] * pa[0];
            a1 += xp[1] * pa[0];
            b0 += xp[0] * pb[0];
            b1 += xp[1] * pb[0];
        }
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = b0;
    acc[3] = b1;
}
/* explore_grad_two_by_two for four channels whose columns lie EXPLORE_GRAD_QUAD_MAX apart: acc[2 n]
   = (ci, n), acc[2 n + 1] = (ci + 1, n); the input pair, once regrouped, feeds all four. */
void explore_grad_two_by_four(const explore_conv_geom_t *g, const uint8_t *x, const int16_t *columns,
                              const explore_grad_window_t *t, uint32_t ci, int32_t *acc)
{
    int32_t a0 = 0, a1 = 0, b0 = 0, b1 = 0, c0 = 0, c1 = 0, d0 = 0, d1 = 0;
    const uint32_t step = g->stride_w * g->in_c;
    const uint32_t row_step = g->stride_h * g->in_w * g->in_c;
    const uint32_t pairs = (t->ow1 - t->ow0) / 2u, odd = (t->ow1 - t->ow0) % 2u;
    const uint8_t *row = x + ((uint32_t)t->row0 * g->in_w + (uint32_t)t->col0) * g->in_c + ci;
    const int16_t *row_e = columns + t->oh0 * g->out_w + t->ow0;
    for (uint32_t rows = t->oh1 - t->oh0; rows; rows--, row += row_step, row_e += g->out_w) {
        const uint8_t *xp = row;
        const int16_t *ep = row_e, *end = row_e + 2u * pairs;
#if defined(__OPTIMIZE__)
        if (pairs) {
            /* Per two positions: the input bytes (p0 ci, p0 ci+1, p1 ci, p1 ci+1) regrouped into
               lanes (p0, p1) of ci and of ci + 1, then an error word of each column.  In assembly:
               it needs all 13 registers (the step and the loop end stay in memory), which the
               compiler's scheduling otherwise spills.  Unoptimized builds keep a frame pointer,
               hence the C loop below for them. */
            uint32_t h0, h1, ev;
            __asm__ volatile(
                "1:\n\t"
                "ldr %[ev], %[step]\n\t"
                "ldrh %[h0], [%[xp]]\n\t"
                "ldrh %[h1], [%[xp], %[ev]]\n\t"
                "add %[xp], %[xp], %[ev], lsl #1\n\t"
                "orr %[h0], %[h0], %[h1], lsl #16\n\t"
                "uxtb16 %[h1], %[h0]\n\t"
                "uxtb16 %[h0], %[h0], ror #8\n\t"
                "ldr %[ev], [%[ep], %[qb]]\n\t"
                "smlad %[b0], %[h1], %[ev], %[b0]\n\t"
                "smlad %[b1], %[h0], %[ev], %[b1]\n\t"
                "ldr %[ev], [%[ep], %[qc]]\n\t"
                "smlad %[c0], %[h1], %[ev], %[c0]\n\t"
                "smlad %[c1], %[h0], %[ev], %[c1]\n\t"
                "ldr %[ev], [%[ep], %[qd]]\n\t"
                "smlad %[d0], %[h1], %[ev], %[d0]\n\t"
                "smlad %[d1], %[h0], %[ev], %[d1]\n\t"
                "ldr %[ev], [%[ep]], #4\n\t"
                "smlad %[a0], %[h1], %[ev], %[a0]\n\t"
                "smlad %[a1], %[h0], %[ev], %[a1]\n\t"
                "ldr %[ev], %[end]\n\t"
                "cmp %[ep], %[ev]\n\t"
                "bne 1b"
                : [a0] "+r"(a0), [a1] "+r"(a1), [b0] "+r"(b0), [b1] "+r"(b1), [c0] "+r"(c0), [c1] "+r"(c1),
                  [d0] "+r"(d0), [d1] "+r"(d1), [xp] "+r"(xp), [ep] "+r"(ep), [h0] "=&r"(h0), [h1] "=&r"(h1),
                  [ev] "=&r"(ev)
                : [step] "m"(step), [end] "m"(end), [qb] "i"(2u * EXPLORE_GRAD_QUAD_MAX),
                  [qc] "i"(4u * EXPLORE_GRAD_QUAD_MAX), [qd] "i"(6u * EXPLORE_GRAD_QUAD_MAX)
                : "cc", "memory");
        }
#else
        for (; ep != end; ep += 2, xp += 2u * step) {
            uint16_t h0, h1;
            memcpy(&h0, xp, sizeof h0);
            memcpy(&h1, xp + step, sizeof h1);
            uint32_t both = (uint32_t)h0 | ((uint32_t)h1 << 16);
            uint32_t first = explore_bytes02(both), second = explore_bytes13(both), e;
            const int16_t *column = ep;
            int32_t *lanes[4][2] = {{&a0, &a1}, {&b0, &b1}, {&c0, &c1}, {&d0, &d1}};
            for (uint32_t n = 0; n < 4u; n++, column += EXPLORE_GRAD_QUAD_MAX) {
                memcpy(&e, column, sizeof e);
                *lanes[n][0] = explore_smlad(first, e, *lanes[n][0]);
                *lanes[n][1] = explore_smlad(second, e, *lanes[n][1]);
            }
        }
#endif
        if (odd) {
            int32_t x0 = xp[0], x1 = xp[1];
            a0 += x0 * ep[0], a1 += x1 * ep[0];
            b0 += x0 * ep[EXPLORE_GRAD_QUAD_MAX], b1 += x1 * ep[EXPLORE_GRAD_QUAD_MAX];
            c0 += x0 * ep[2u * EXPLORE_GRAD_QUAD_MAX], c1 += x1 * ep[2u * EXPLORE_GRAD_QUAD_MAX];
            d0 += x0 * ep[3u * EXPLORE_GRAD_QUAD_MAX], d1 += x1 * ep[3u * EXPLORE_GRAD_QUAD_MAX];
        }
    }
    acc[0] = a0, acc[1] = a1, acc[2] = b0, acc[3] = b1;
    acc[4] = c0, acc[5] = c1, acc[6] = d0, acc[7] = d1;
}
#endif
