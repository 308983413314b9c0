/* runtime_c: on-device fully quantized training of an explore bundle (design.md, "FQT arithmetic").
 *
 * One training sample at a time, in the bundle's arena plan, with no malloc:
 *
 *     static uint8_t arena[EXPLORE_ARENA_BYTES] __attribute__((aligned(8)));
 *     static float state[...];          size from explore_state_floats()
 *     explore_model_t model = EXPLORE_BUNDLE_MODEL;
 *     explore_ctx_t ctx;
 *     explore_init(&ctx, &model, arena, sizeof arena, state, sizeof state);
 *     for each sample: explore_train_sample(&ctx, x, label, &loss);
 *                      after batch_size samples: explore_update(&ctx);
 *     explore_infer(&ctx, x, logits);
 *
 * Every function returns a status; a model, arena or state that does not fit is refused by
 * explore_init before anything is written.  The types of the model description are those of
 * explore_bundle.h, which the bundle's generated model.h includes (its own copy; bundles written
 * before that file existed define them inline), so the runtime is compiled together with one bundle.
 */
#ifndef EXPLORE_RT_H
#define EXPLORE_RT_H

#include <stdint.h>

#include "model.h"

typedef int32_t explore_status_t;

#define EXPLORE_OK 0
#define EXPLORE_E_ARGUMENT (-1)     /* a NULL pointer or an out-of-range argument */
#define EXPLORE_E_FORMAT (-2)       /* bundle format string other than EXPLORE_RT_FORMAT */
#define EXPLORE_E_LAYER (-3)        /* a layer table row that is inconsistent or unsupported */
#define EXPLORE_E_SHAPE (-4)        /* tensor sizes that do not agree with each other */
#define EXPLORE_E_PLAN (-5)         /* a buffer missing from the arena plan, too small, or misaligned */
#define EXPLORE_E_ARENA (-6)        /* the caller's arena is smaller than the plan needs */
#define EXPLORE_E_STATE (-7)        /* the caller's training state is too small */
#define EXPLORE_E_TRAINING (-8)     /* an inconsistent training configuration */
#define EXPLORE_E_NOT_INITIALISED (-9)

#define EXPLORE_RT_FORMAT "explore.bundle/1"
/* The context's per-layer tables are sized for the bundle compiled in; a model with more layers is
   refused (EXPLORE_E_LAYER). */
#ifndef EXPLORE_MAX_LAYERS
#define EXPLORE_MAX_LAYERS EXPLORE_NUM_LAYERS
#endif
#define EXPLORE_MAX_CONSUMERS 4

/* Everything the runtime reads from a bundle, gathered so that a corrupted copy can be tested. */
typedef struct {
    const char *format;
    uint16_t num_layers;
    uint16_t num_classes;
    uint8_t input_rank;
    uint32_t input_shape[3];
    const explore_layer_t *layers;
    const explore_tensor_quant_t *input_quant;
    const explore_tensor_quant_t *act_quant;
    const explore_trainable_t *trainable;
    uint16_t num_trainable;
    const explore_training_config_t *training;
    const explore_buffer_t *training_buffers;
    uint16_t num_training_buffers;
    uint32_t training_arena_bytes;
    const explore_buffer_t *inference_buffers;
    uint16_t num_inference_buffers;
    uint32_t inference_arena_bytes;
} explore_model_t;

#if EXPLORE_INPUT_RANK == 2
#define EXPLORE_INPUT_SHAPE_ {EXPLORE_INPUT_DIM0, EXPLORE_INPUT_DIM1, 0}
#else
#define EXPLORE_INPUT_SHAPE_ {EXPLORE_INPUT_DIM0, EXPLORE_INPUT_DIM1, EXPLORE_INPUT_DIM2}
#endif

/* The model of the bundle compiled in (model.h / model.c). */
#define EXPLORE_BUNDLE_MODEL {                                                              \
    EXPLORE_BUNDLE_FORMAT, EXPLORE_NUM_LAYERS, EXPLORE_NUM_CLASSES, EXPLORE_INPUT_RANK,     \
    EXPLORE_INPUT_SHAPE_, explore_layers, &explore_input_quant, explore_act_quant,         \
    explore_trainable, EXPLORE_NUM_TRAINABLE, &explore_training,                           \
    explore_training_buffers, EXPLORE_NUM_TRAINING_BUFFERS, EXPLORE_ARENA_BYTES,           \
    explore_inference_buffers, EXPLORE_NUM_INFERENCE_BUFFERS, EXPLORE_INFERENCE_ARENA_BYTES }

/* Where one error tensor lives during a sample's backward pass and how it is quantized. */
typedef struct {
    int32_t offset;      /* arena offset; -1: none */
    uint8_t is_float;    /* float32 values; else uint8 codes with a per-sample scale and zero */
    float scale;
    int32_t zero;
} explore_error_t;

/* Offsets (in floats) of one trainable layer's gradient buffers and Welford statistics. */
typedef struct {
    uint32_t grad_w;
    uint32_t grad_b;
    uint32_t mean;
    uint32_t m2;
    uint32_t count;
} explore_grad_state_t;

/* The runtime's working state.  Plain data, so it can be a static variable; fields are private. */
typedef struct {
    const explore_model_t *model;
    uint8_t *arena;
    float *state;
    uint8_t initialised;
    uint8_t first;               /* first trainable layer */
    uint8_t sparse;              /* lambda_min < 1: dynamic sparse updates */
    uint8_t float_from;          /* first layer computed in float32 */
    int32_t act[EXPLORE_MAX_LAYERS + 1];        /* training plan: tensor t at act[t + 1] (t = -1: input) */
    int32_t infer_act[EXPLORE_MAX_LAYERS + 1];  /* inference plan */
    int32_t arg[EXPLORE_MAX_LAYERS];            /* max-pool winners */
    int32_t acc[EXPLORE_MAX_LAYERS];            /* int32 scratch of an integer input error */
    int32_t select[EXPLORE_MAX_LAYERS];         /* sparse-update channel selection */
    int32_t merged[EXPLORE_MAX_LAYERS];         /* buffer of a merged/requantized incoming error */
    int32_t copy[EXPLORE_MAX_LAYERS];           /* add: private copy of the error for layer i-1 */
    int32_t dlogits;
    uint8_t num_consumers[EXPLORE_MAX_LAYERS];
    uint8_t consumers[EXPLORE_MAX_LAYERS][EXPLORE_MAX_CONSUMERS];
    int32_t produced[EXPLORE_MAX_LAYERS + 1];   /* error buffer produced by layer i for its input (L: loss) */
    explore_error_t incoming[EXPLORE_MAX_LAYERS];   /* per sample: error at layer i's output */
    explore_error_t outgoing[EXPLORE_MAX_LAYERS + 1]; /* per sample: error layer i sent to i-1 (L: loss) */
    explore_grad_state_t grads[EXPLORE_MAX_LAYERS];
    int16_t trainable_entry[EXPLORE_MAX_LAYERS]; /* index into model->trainable, -1: frozen */
    uint8_t out_low[EXPLORE_MAX_LAYERS], out_high[EXPLORE_MAX_LAYERS];   /* activation clamp */
    int16_t pass_low[EXPLORE_MAX_LAYERS], pass_high[EXPLORE_MAX_LAYERS]; /* gradient window */
    float loss_max;
    uint32_t batch_samples;      /* samples accumulated since the last update */
} explore_ctx_t;

/* Floats of training state (gradient buffers and statistics) the model needs; 0 on error. */
uint32_t explore_state_floats(const explore_model_t *model);

/* Check the model, the arena and the state, and resolve the arena plan.  state may be NULL with
   state_bytes 0 for inference only.  Gradient buffers start at zero. */
explore_status_t explore_init(explore_ctx_t *ctx, const explore_model_t *model, uint8_t *arena,
                              uint32_t arena_bytes, float *state, uint32_t state_bytes);

/* Logits of one input sample (input_shape floats, NHWC/NLC order), in the inference plan. */
explore_status_t explore_infer(explore_ctx_t *ctx, const float *input, float *logits);

/* Forward, loss and backward of one sample; adds its gradient to the minibatch's buffers.
   loss and kept_fraction (one per trainable layer, may be NULL) report how it went. */
explore_status_t explore_train_sample(explore_ctx_t *ctx, const float *input, int32_t label, float *loss,
                                      float *kept_fraction);

/* End of a minibatch: standardized, requantized update of every trainable layer (Eqs. 5-9). */
explore_status_t explore_update(explore_ctx_t *ctx);

const char *explore_status_name(explore_status_t status);

#endif /* EXPLORE_RT_H */
