/* The inner loops of the SMLAD paths, exposed (inside the library only) so that
 * runtime_c/bench/bench_kernels.c can count their instructions per MAC on their own. */
#ifndef EXPLORE_DSP_LOOPS_H
#define EXPLORE_DSP_LOOPS_H

#include <stdint.h>

#include "explore_kernels.h"

#ifdef EXPLORE_USE_DSP
typedef struct {
    uint32_t oh0, oh1, ow0, ow1;   /* valid output rectangle of a kernel tap */
    int32_t row0, col0;            /* input row/column of its first valid output position */
} explore_tap_window_t;

/* forward: output channels o, o+1 at two positions; acc[2 * position + channel] = sum_j patch[j] w[j][c] */
void explore_dsp_dot_two_by_two(const int16_t *p0, const int16_t *p1, uint32_t fan, const uint8_t *w,
                                uint32_t out_c, int32_t *acc);
#endif

#endif /* EXPLORE_DSP_LOOPS_H */
