/* The C types of an explore bundle (format explore.bundle/1): the layer table, quantization
 * parameters, trainable state, training configuration and arena plan that a bundle's model.c defines
 * and runtime_c reads.
 *
 * `explore export` copies this file into every bundle, next to model.h, which includes it; runtime_c
 * compiles against the bundle's copy.  Bundles exported before the copy existed carry these same
 * types inline in their model.h.  Changing a type here changes the bundle format.
 */
#ifndef EXPLORE_BUNDLE_H
#define EXPLORE_BUNDLE_H

#include <stdint.h>

enum explore_layer_kind {
    EXPLORE_CONV = 0, EXPLORE_DENSE = 1, EXPLORE_MAXPOOL = 2, EXPLORE_AVGPOOL = 3,
    EXPLORE_GLOBALAVGPOOL = 4, EXPLORE_FLATTEN = 5, EXPLORE_ADD = 6
};
enum explore_activation { EXPLORE_ACT_NONE = 0, EXPLORE_ACT_RELU = 1, EXPLORE_ACT_RELU6 = 2 };
enum explore_padding { EXPLORE_PAD_SAME = 0, EXPLORE_PAD_VALID = 1 };
enum explore_config { EXPLORE_CONFIG_UINT8 = 0, EXPLORE_CONFIG_MIXED = 1, EXPLORE_CONFIG_FLOAT32 = 2 };
enum explore_buffer_category {
    EXPLORE_BUF_ACTIVATION = 0, EXPLORE_BUF_KEPT = 1, EXPLORE_BUF_ERROR = 2, EXPLORE_BUF_SCRATCH = 3
};

/* Static quantization of a tensor: x = scale * (q - zero). */
typedef struct {
    float scale;
    int32_t zero;
} explore_tensor_quant_t;

/* Per-tensor weight quantization and the output requantization multiplier of an integer
   conv/dense layer (TFLite convention: real multiplier = m0 * 2^(shift - 31)). */
typedef struct {
    float w_scale;
    int32_t w_zero;
    int32_t m0;
    int32_t shift;
} explore_qparams_t;

/* TFLite's quantized add: the six int32 multiplier parts. */
typedef struct {
    int32_t m_a;
    int32_t shift_a;
    int32_t m_b;
    int32_t shift_b;
    int32_t m_out;
    int32_t shift_out;
} explore_add_params_t;

/* One row of the layer table.  Shapes have no batch axis: NLC (length, channels) or NHWC
   (height, width, channels); unused entries are 0.  Layer i reads layer i-1's output (-1: input).
   Pointers that do not apply are 0 (NULL).  When trainable is 1 the parameter pointers point to
   writable RAM arrays (also reachable without casts through explore_trainable[]). */
typedef struct {
    uint8_t kind;            /* enum explore_layer_kind */
    uint8_t activation;      /* enum explore_activation, fused into the layer */
    uint8_t is_float;        /* 1: runs in float32 (mixed head, float32), 0: uint8 */
    uint8_t trainable;       /* 1: trained on-device */
    uint8_t depthwise;       /* conv only */
    uint8_t padding;         /* conv only: enum explore_padding */
    uint8_t batchnorm;       /* conv only: 1 if BatchNorm was folded into the weights */
    uint8_t in_rank;         /* entries used in in_shape */
    uint8_t out_rank;        /* entries used in out_shape */
    int16_t skip;            /* add only: the other operand's layer (-1: network input) */
    uint32_t in_shape[3];
    uint32_t out_shape[3];
    uint16_t kernel[2];      /* conv: kernel size per spatial axis */
    uint16_t strides[2];     /* conv: stride per spatial axis */
    uint16_t window[2];      /* pooling: window (= stride) per spatial axis */
    uint32_t weight_count;   /* conv/dense: weight elements */
    uint32_t channels;       /* conv/dense: output channels (= bias elements) */
    const uint8_t *w_q;      /* integer layers: uint8 weights, Flax layout (k..., in, out) */
    const int32_t *b_q;      /* integer layers: int32 bias at scale w_scale * s_in */
    const float *b_f;        /* trainable integer layers: float32 bias master copy */
    const explore_qparams_t *qparams;   /* integer layers */
    const float *w_f;        /* float layers: float32 weights, same layout */
    const float *bias_f;     /* float layers: float32 bias */
    const explore_add_params_t *add;    /* add layers */
} explore_layer_t;

/* Writable state of one trainable layer (RAM).  Gradient buffers and Welford statistics are not
   here: runtime_c allocates them (zero-initialised, see the README for their sizes). */
typedef struct {
    uint16_t layer;
    uint32_t weight_count;
    uint32_t channels;
    uint8_t *w_q;
    int32_t *b_q;
    float *b_f;
    explore_qparams_t *qparams;
    float *w_f;
    float *bias_f;
} explore_trainable_t;

/* On-device training configuration of the design. */
typedef struct {
    uint8_t config;          /* enum explore_config */
    uint8_t num_trainable;
    const uint16_t *trainable_layers;
    float lambda_min;
    float lambda_max;
    float lr;
    uint16_t batch_size;
    uint16_t epochs;
} explore_training_config_t;

/* One arena buffer of the cost model's plan: size bytes at offset, live from step first_step to
   last_step inclusive (the steps are named in explore_*_steps). */
typedef struct {
    const char *name;
    uint8_t category;        /* enum explore_buffer_category */
    uint32_t offset;
    uint32_t size;
    uint16_t first_step;
    uint16_t last_step;
} explore_buffer_t;

#endif /* EXPLORE_BUNDLE_H */
