/* The inner loops of the SMLAD paths, exposed (inside the library only) so that
 * runtime_c/bench/bench_kernels.c can count their instructions per MAC on their own, and the SMLAD
 * halves of kernels whose DSP path lives in a file of its own. */
#ifndef EXPLORE_DSP_LOOPS_H
#define EXPLORE_DSP_LOOPS_H

#include <stdint.h>

#include "explore_kernels.h"
#include "requant.h"

#ifdef EXPLORE_USE_DSP
/* forward (conv_forward_q_dsp.c), not depthwise; returns 0 where it does not apply */
int explore_conv_forward_q_dsp(const explore_conv_geom_t *g, const explore_conv_q_params_t *p, const uint8_t *x,
                               const uint8_t *w, const int32_t *bias, uint8_t *y);
/* forward for small layers (conv_forward_q_small.c), not depthwise; returns 0 where it does not apply */
int explore_conv_forward_q_small(const explore_conv_geom_t *g, const explore_conv_q_params_t *p, const uint8_t *x,
                                 const uint8_t *w, const int32_t *bias, uint8_t *y);
/* The conv of conv_forward_q_small.c for shapes where explore_small_conv_fits: with rq, y gets the
   requantized outputs; without, sums[pos * out_c + c] = bias[c] (0 without bias) + sum (x - zx)(w - zw). */
int explore_small_conv_fits(const explore_conv_geom_t *g);
void explore_small_conv(const explore_conv_geom_t *g, const uint8_t *x, int32_t x_zero, const uint8_t *w,
                        int32_t w_zero, const int32_t *bias, const explore_requant_t *rq, uint8_t *y, int32_t *sums);
/* depthwise forward for small images (depthwise_forward_q_small.c): fits, then the layer */
int explore_depthwise_small_fits(const explore_conv_geom_t *g, const explore_conv_q_params_t *p);
void explore_depthwise_small(const explore_conv_geom_t *g, const explore_conv_q_params_t *p, const uint8_t *x,
                             const uint8_t *w, const int32_t *bias, uint8_t *y);
/* depthwise input error, stride 1, small images (depthwise_forward_q_small.c); returns 0 where it does
   not apply */
int explore_depthwise_input_error_small(const explore_conv_geom_t *g, const uint8_t *e, int32_t e_zero,
                                        const uint8_t *w, int32_t w_zero, const uint16_t *kept, uint32_t num_kept,
                                        int32_t *acc);
/* input error on the small conv: stride 1 (conv_input_error_q_small.c); returns 0 where it does not apply */
int explore_input_error_small(const explore_conv_geom_t *g, const uint8_t *e, int32_t e_zero, const uint8_t *w,
                              int32_t w_zero, const uint16_t *kept, uint32_t num_kept, int32_t *acc);
/* forward: output channels o, o+1 at three positions (patches p0 + k * EXPLORE_PATCH_MAX) over
   4 * quads patch rows stored as quads (x0, x2, x1, x3);
   acc[stride * position + channel] += sum_j patch[j] w[j][c] */
#define EXPLORE_PATCH_MAX 320u
void explore_dsp_dot_three_by_two(const int16_t *p0, uint32_t quads, const uint8_t *w, uint32_t out_c, int32_t *acc,
                                  uint32_t stride);
#endif

#endif /* EXPLORE_DSP_LOOPS_H */
