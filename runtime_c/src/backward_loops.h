/* The inner loops and SMLAD paths of the backward kernels that live in files of their own. */
#ifndef EXPLORE_BACKWARD_LOOPS_H
#define EXPLORE_BACKWARD_LOOPS_H

#include "dsp.h"
#include "explore_kernels.h"

/* conv_weight_grad_q: the valid output rectangle of a kernel tap, and the input row/column of its
   first position. */
typedef struct {
    uint32_t oh0, oh1, ow0, ow1;
    int32_t row0, col0;
} explore_grad_window_t;

/* conv_weight_grad_q: four error columns of this many positions lie this far apart. */
#define EXPLORE_GRAD_QUAD_MAX 256u

/* Input channels ci, ci+1 against two error columns over a window (raw input codes): acc = {(ci, a),
   (ci+1, a), (ci, b), (ci+1, b)}.  conv_weight_grad_q_dsp.c on DSP cores, else conv_weight_grad_q.c. */
void explore_grad_two_by_two(const explore_conv_geom_t *g, const uint8_t *x, const int16_t *column_a,
                             const int16_t *column_b, const explore_grad_window_t *t, uint32_t ci, int32_t *acc);

#ifdef EXPLORE_USE_DSP
/* The same for four columns EXPLORE_GRAD_QUAD_MAX apart: acc[2 n] = (ci, n), acc[2 n + 1] = (ci + 1, n). */
void explore_grad_two_by_four(const explore_conv_geom_t *g, const uint8_t *x, const int16_t *columns,
                              const explore_grad_window_t *t, uint32_t ci, int32_t *acc);

/* conv_input_error_q_dsp.c: explore_conv_input_error_q of a conv or dense layer; returns 0 (and
   does nothing) for the shapes it does not take (depthwise, more output channels than it holds,
   fewer than 1 in 8 channels kept). */
int explore_input_error_dsp(const explore_conv_geom_t *g, const uint8_t *e, int32_t e_zero, const uint8_t *w,
                            int32_t w_zero, const uint16_t *kept, uint32_t num_kept, int32_t *acc);
#endif

#endif /* EXPLORE_BACKWARD_LOOPS_H */
