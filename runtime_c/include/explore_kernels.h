/* The kernels of runtime_c, one per source file, each a function of explicit buffers (no state).
 *
 * Arithmetic is design.md's "FQT arithmetic" and must give the same bits as the JAX simulator
 * (explore/fqt).  Float expressions are written in the simulator's order, and the library is
 * built with -ffp-contract=off so that no product is fused into an FMA.
 */
#ifndef EXPLORE_KERNELS_H
#define EXPLORE_KERNELS_H

#include <stdint.h>

/* --- fixed point and quantization (quant.c) ------------------------------------------------ */

#define EXPLORE_QMIN 0
#define EXPLORE_QMAX 255

int32_t explore_srdhm(int32_t a, int32_t b);
int32_t explore_rounding_divide_by_pot(int32_t x, int32_t exponent);
int32_t explore_mbqm(int32_t x, int32_t m0, int32_t shift);
void explore_quantize_multiplier(float multiplier, int32_t *m0, int32_t *shift);
float explore_round_half_away(float x);
uint8_t explore_quantize_value(float x, float inv_scale, int32_t zero);
/* q[k] = explore_quantize_value(x[k], inv_scale, zero) for k < n. */
void explore_quantize_values(const float *x, uint32_t n, float inv_scale, int32_t zero, uint8_t *q);
void explore_choose_qparams(float f_min, float f_max, float fallback, float *scale, int32_t *zero);
/* int32 bias at scale w_scale * x_scale, and the multiplier of w_scale * x_scale / y_scale. */
int32_t explore_bias_q(float b_f, float w_scale, float x_scale);
void explore_requant_multiplier(float w_scale, float x_scale, float y_scale, int32_t *m0, int32_t *shift);
/* uint8 clamp of an activation and the open window of codes where it passes gradient. */
void explore_activation_range(uint8_t activation, float scale, int32_t zero, uint8_t *low, uint8_t *high);
void explore_gradient_window(uint8_t activation, float scale, int32_t zero, int16_t *low, int16_t *high);

/* --- exp and log from + - * / only (fmath.c, twin of explore/fqt/fmath.py) ----------------- */

float explore_exp_f32(float x);
float explore_log_f32(float x);

/* --- convolution geometry (dense = 1x1 conv over a 1x1 image with in_c = inputs) ------------ */

typedef struct {
    uint32_t in_h, in_w, in_c;
    uint32_t out_h, out_w, out_c;
    uint32_t k_h, k_w;
    uint32_t stride_h, stride_w;
    uint32_t pad_top, pad_left;
    uint8_t depthwise;
} explore_conv_geom_t;

/* Weight elements per output channel (the Welford population of one sample). */
uint32_t explore_conv_fan_in(const explore_conv_geom_t *g);

/* The input row (column) output row oh (column ow) reads through kernel offset kh (kw); negative
   where that tap falls into the zero padding. */
static inline int32_t explore_conv_in_row(const explore_conv_geom_t *g, uint32_t oh, uint32_t kh)
{
    int32_t i = (int32_t)(oh * g->stride_h + kh) - (int32_t)g->pad_top;
    return i < (int32_t)g->in_h ? i : -1;
}

static inline int32_t explore_conv_in_col(const explore_conv_geom_t *g, uint32_t ow, uint32_t kw)
{
    int32_t i = (int32_t)(ow * g->stride_w + kw) - (int32_t)g->pad_left;
    return i < (int32_t)g->in_w ? i : -1;
}

/* Kept-channel lists (design 10) are ascending; kept == NULL with num_kept == out_c means all. */

/* --- integer kernels ---------------------------------------------------------------------- */

typedef struct {
    int32_t x_zero;
    int32_t w_zero;
    int32_t y_zero;
    int32_t m0;
    int32_t shift;
    uint8_t low, high;        /* activation clamp */
} explore_conv_q_params_t;

/* conv_forward_q.c: y = clamp(MBQM(sum (x - zx)(w - zw) + b) + zy). */
void explore_conv_forward_q(const explore_conv_geom_t *g, const explore_conv_q_params_t *p, const uint8_t *x,
                            const uint8_t *w, const int32_t *bias, uint8_t *y);
/* depthwise_forward_q.c: the same for a depthwise layer (explore_conv_forward_q dispatches to it). */
void explore_depthwise_forward_q(const explore_conv_geom_t *g, const explore_conv_q_params_t *p, const uint8_t *x,
                                 const uint8_t *w, const int32_t *bias, uint8_t *y);

/* A small dense layer: a 1x1 conv over a 1x1 image of up to EXPLORE_DENSE_WEIGHTS_MAX weights.  The
   dense kernels (dense_*_q.c) take these; beyond, the conv kernels' loops (their per-call setup paid
   off, eight channels per pass on the M0+) are as fast or faster.  Inline: the test costs the conv
   kernels next to nothing. */
#define EXPLORE_DENSE_WEIGHTS_MAX 2048u

static inline int explore_dense_fits(const explore_conv_geom_t *g)
{
    return g->in_c * g->out_c <= EXPLORE_DENSE_WEIGHTS_MAX && g->in_h == 1u && g->in_w == 1u && g->out_h == 1u &&
           g->out_w == 1u && g->k_h == 1u && g->k_w == 1u && !g->depthwise;
}

/* dense_forward_q.c: the same for a small dense layer (explore_conv_forward_q dispatches to it, as the
   input error and weight gradient kernels do to theirs). */
void explore_dense_forward_q(const explore_conv_geom_t *g, const explore_conv_q_params_t *p, const uint8_t *x,
                             const uint8_t *w, const int32_t *bias, uint8_t *y);

/* conv_input_error_q.c: acc[input] = sum over kept output channels of (e - ze)(w - zw) (Eq. 1/4). */
void explore_conv_input_error_q(const explore_conv_geom_t *g, const uint8_t *e, int32_t e_zero, const uint8_t *w,
                                int32_t w_zero, const uint16_t *kept, uint32_t num_kept, int32_t *acc);
/* dense_input_error_q.c: the same for a small dense layer of up to EXPLORE_DENSE_OUTPUTS_MAX outputs. */
#define EXPLORE_DENSE_OUTPUTS_MAX 64u
void explore_dense_input_error_q(const explore_conv_geom_t *g, const uint8_t *e, int32_t e_zero, const uint8_t *w,
                                 int32_t w_zero, const uint16_t *kept, uint32_t num_kept, int32_t *acc);
/* Bytes of the int32 accumulators acc[] for an input of in_elements (the arena's scratch "acc<i>";
   explore.cost.lifetimes.input_error_scratch_bytes plans the same). */
uint32_t explore_conv_input_error_q_scratch_bytes(uint32_t in_elements);

/* Per-sample gradient sink shared by the weight-gradient kernels (Eq. 2, design 6 and 8).  Channel
   by channel, every gradient element g of the sample is added to grad_w and pushed through a
   Welford recurrence in memory order; the sample's channel statistics are then merged (Chan) into
   the running mean/M2, whose population so far is count.  Channels not kept contribute zeros. */
typedef struct {
    float *grad_w;        /* [fan_in, out_c] */
    float *grad_b;        /* [out_c] */
    float *mean;          /* [out_c] running Welford mean */
    float *m2;            /* [out_c] running sum of squared deviations */
    float count;          /* elements per channel merged before this sample */
} explore_grad_sink_t;

/* conv_weight_grad_q.c: per-sample weight and bias gradient of the kept channels. */
void explore_conv_weight_grad_q(const explore_conv_geom_t *g, const uint8_t *x, int32_t x_zero, float x_scale,
                                const uint8_t *e, int32_t e_zero, float e_scale, const uint16_t *kept,
                                uint32_t num_kept, const explore_grad_sink_t *sink);

/* dense_weight_grad_q.c: the same for a dense layer (explore_conv_weight_grad_q dispatches to it where
   explore_dense_fits). */
void explore_dense_weight_grad_q(const explore_conv_geom_t *g, const uint8_t *x, int32_t x_zero, float x_scale,
                                 const uint8_t *e, int32_t e_zero, float e_scale, const uint16_t *kept,
                                 uint32_t num_kept, const explore_grad_sink_t *sink);

/* --- float kernels (the summation order of explore/fqt/ordered.py) ------------------------- */

/* The input of a float layer: float32 values, or (at the uint8 -> float boundary of the mixed
   configuration) uint8 codes dequantized on the fly as (q - zero) * scale. */
typedef struct {
    const float *f;
    const uint8_t *q;
    float scale;
    int32_t zero;
} explore_float_input_t;

static inline float explore_float_input_at(const explore_float_input_t *x, uint32_t index)
{
    return x->f ? x->f[index] : (float)((int32_t)x->q[index] - x->zero) * x->scale;
}

/* conv_forward_f.c: y = activation((sum over (kh, kw, ci) ascending of x * w) + b). */
void explore_conv_forward_f(const explore_conv_geom_t *g, const explore_float_input_t *x, const float *w,
                            const float *bias, uint8_t activation, float *y);
/* conv_input_error_f.c: dx accumulates, per kernel offset (kh, kw) ascending, the sum over kept
   output channels (ascending) of e * w. */
void explore_conv_input_error_f(const explore_conv_geom_t *g, const float *e, const float *w, const uint16_t *kept,
                                uint32_t num_kept, float *dx);
/* conv_weight_grad_f.c: per-sample gradient of the kept channels, sums over output positions
   ascending. */
void explore_conv_weight_grad_f(const explore_conv_geom_t *g, const explore_float_input_t *x, const float *e,
                                const uint16_t *kept, uint32_t num_kept, const explore_grad_sink_t *sink);

/* --- pooling and residual add -------------------------------------------------------------- */

typedef struct {
    uint32_t in_h, in_w, c;
    uint32_t win_h, win_w;
    uint32_t out_h, out_w;
} explore_pool_geom_t;

/* maxpool.c: max over each window (first maximum wins) and its position in the window. */
void explore_maxpool_forward_u8(const explore_pool_geom_t *g, const uint8_t *x, uint8_t *y, uint8_t *arg);
void explore_maxpool_forward_f(const explore_pool_geom_t *g, const float *x, float *y, uint8_t *arg);
/* Route each window's error to its winner; every other input position gets `fill`. */
void explore_maxpool_backward_u8(const explore_pool_geom_t *g, const uint8_t *e, const uint8_t *arg, uint8_t fill,
                                 uint8_t *dx);
void explore_maxpool_backward_f(const explore_pool_geom_t *g, const float *e, const uint8_t *arg, float *dx);

/* avgpool.c: TFLite's uint8 average (sum + count/2) / count; float: ordered sum * (1/count). */
void explore_avgpool_forward_u8(const explore_pool_geom_t *g, const uint8_t *x, uint8_t *y);
void explore_avgpool_forward_f(const explore_pool_geom_t *g, const float *x, float *y);
/* Spread each window's error to its positions; the 1/count goes into the caller's scale. */
void explore_avgpool_backward_u8(const explore_pool_geom_t *g, const uint8_t *e, int32_t e_zero, uint8_t *dx);
void explore_avgpool_backward_f(const explore_pool_geom_t *g, const float *e, float inv_count, float *dx);

typedef struct {
    int32_t a_zero, b_zero, y_zero;
    int32_t m_a, shift_a, m_b, shift_b, m_out, shift_out;
    uint8_t low, high;
} explore_add_q_params_t;

/* add_q.c: TFLite's quantized ADD. */
void explore_add_forward_q(const explore_add_q_params_t *p, const uint8_t *a, const uint8_t *b, uint32_t n,
                           uint8_t *y);
void explore_add_forward_f(const float *a, const float *b, uint32_t n, uint8_t activation, float *y);

/* --- errors, loss, sparse selection, statistics and update ---------------------------------- */

/* error_quant.c: per-sample dynamic quantization of int32 accumulators (design 4); returns the
   zero point and writes the error scale (acc_scale * range / 255). */
int32_t explore_quantize_acc(const int32_t *acc, uint32_t n, float acc_scale, uint8_t *q, float *scale);
/* Dynamic quantization of a float tensor from its own range (design 5). */
int32_t explore_quantize_float(const float *x, uint32_t n, uint8_t *q, float *scale);

/* activation.c: masks of the backward pass, in place. */
void explore_mask_u8(uint8_t *e, int32_t e_zero, const uint8_t *y, uint32_t n, int16_t pass_low, int16_t pass_high);
void explore_mask_f(float *e, const float *y, uint32_t n, uint8_t activation);

/* loss.c: softmax cross-entropy on float logits; dlogits = softmax - onehot.  Returns the loss. */
float explore_softmax_cross_entropy(const float *logits, uint32_t classes, int32_t label, float *dlogits);

/* select.c: Eq. 9.  Flags the k = max(1, floor(rate * C)) channels with the largest l1 norm (ties:
   lower index) in keep[C] and returns k; l1 is C words of scratch.  explore_kept_list turns the
   flags into the ascending list of kept channels. */
uint32_t explore_select_u8(const uint8_t *e, int32_t e_zero, uint32_t positions, uint32_t channels, float rate,
                           uint32_t *l1, uint8_t *keep);
uint32_t explore_select_f(const float *e, uint32_t positions, uint32_t channels, float rate, float *l1,
                          uint8_t *keep);
uint32_t explore_kept_list(const uint8_t *keep, uint32_t channels, uint16_t *kept);
/* Bytes of scratch a selection over C channels needs: l1 (4 per channel) followed by keep (1 per
   channel); once the flags are set, the l1 words may hold the kept list (2 per channel).  This is the
   arena's scratch "select<i>"; explore.cost.lifetimes.select_scratch_bytes plans the same. */
uint32_t explore_select_scratch_bytes(uint32_t channels);
uint32_t explore_channels_to_keep(float rate, uint32_t channels);

/* welford.c: one value into a Welford state (n values before it), and Chan's merge of a sample's
   channel statistics (n_b values) into the running ones (n_a values). */
void explore_welford_push(float *mean, float *m2, float n_before, float value);
void explore_welford_merge(float *mean, float *m2, float n_a, float sample_mean, float sample_m2, float n_b);

/* update.c: Eq. 8 standardized gradient of one element. */
float explore_standardized(float grad_sum, float inv_n, float mean, float inv_sd);
/* Eqs. 5-7: requantized update of a uint8 weight tensor; w_scale/w_zero are updated in place. */
void explore_update_q(uint8_t *w_q, float *w_scale, int32_t *w_zero, const float *grad_w, const float *mean,
                      const float *m2, float count, float inv_n, float lr, uint32_t fan_in, uint32_t channels);
void explore_update_f(float *w, const float *grad_w, const float *mean, const float *m2, float count, float inv_n,
                      float lr, uint32_t fan_in, uint32_t channels);

#endif /* EXPLORE_KERNELS_H */
