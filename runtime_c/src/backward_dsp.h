/* The SMLAD paths of the backward kernels, each in its own file (ARMv7E-M DSP cores only). */
#ifndef EXPLORE_BACKWARD_DSP_H
#define EXPLORE_BACKWARD_DSP_H

#include "dsp.h"
#include "explore_kernels.h"

#ifdef EXPLORE_USE_DSP
/* conv_input_error_q_dsp.c: explore_conv_input_error_q of a conv or dense layer; returns 0 (and
   does nothing) for the shapes it does not take (depthwise, more output channels than it holds,
   fewer than 1 in 8 channels kept). */
int explore_input_error_dsp(const explore_conv_geom_t *g, const uint8_t *e, int32_t e_zero, const uint8_t *w,
                            int32_t w_zero, const uint16_t *kept, uint32_t num_kept, int32_t *acc);
#endif

#endif /* EXPLORE_BACKWARD_DSP_H */
