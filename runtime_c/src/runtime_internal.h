/* Helpers shared by the runtime's own translation units (not part of the public API). */
#ifndef EXPLORE_RUNTIME_INTERNAL_H
#define EXPLORE_RUNTIME_INTERNAL_H

#include "explore_kernels.h"
#include "explore_rt.h"

/* Whether tensor t (-1: the input) is float32 in this configuration. */
static inline int explore_rt_tensor_float(const explore_ctx_t *ctx, int32_t t)
{
    return t < 0 ? ctx->float_from == 0 : t >= ctx->float_from;
}

static inline const uint32_t *explore_rt_shape(const explore_ctx_t *ctx, int32_t t, uint8_t *rank)
{
    const explore_model_t *m = ctx->model;
    *rank = t < 0 ? m->input_rank : m->layers[t].out_rank;
    return t < 0 ? m->input_shape : m->layers[t].out_shape;
}

static inline uint32_t explore_rt_elements(const explore_ctx_t *ctx, int32_t t)
{
    uint8_t rank;
    const uint32_t *dims = explore_rt_shape(ctx, t, &rank);
    uint32_t n = 1;
    for (uint8_t k = 0; k < rank; k++) {
        n *= dims[k];
    }
    return n;
}

/* Elements of layer i's output (i >= 0; spelled apart from explore_rt_elements so that the
   compiler's bounds analysis does not follow the input branch into per-layer arrays). */
static inline uint32_t explore_rt_layer_elements(const explore_ctx_t *ctx, uint32_t i)
{
    const explore_layer_t *l = &ctx->model->layers[i];
    uint32_t n = 1;
    for (uint8_t k = 0; k < l->out_rank; k++) {
        n *= l->out_shape[k];
    }
    return n;
}

/* Bytes of tensor t stored as float (as_float 1), uint8 (0) or in its own type (-1). */
static inline uint32_t explore_rt_tensor_bytes(const explore_ctx_t *ctx, int32_t t, int as_float)
{
    int is_float = as_float < 0 ? explore_rt_tensor_float(ctx, t) : as_float;
    return explore_rt_elements(ctx, t) * (is_float ? 4u : 1u);
}

/* Whether consumer c (num_layers: the loss) sends float errors. */
static inline int explore_rt_sends_float(const explore_ctx_t *ctx, int32_t c)
{
    int32_t layer = c < ctx->model->num_layers ? c : c - 1;
    return layer >= ctx->float_from;
}

/* An error arriving from two readers, or in the other number type, is summed/requantized anew. */
static inline int explore_rt_needs_merge(const explore_ctx_t *ctx, int32_t i)
{
    if (ctx->num_consumers[i] != 1) {
        return 1;
    }
    return explore_rt_sends_float(ctx, ctx->consumers[i][0]) != explore_rt_tensor_float(ctx, i);
}

/* Per-kernel instruction profile, for calibrating the cost model (explore bench runtime).  A build
   with EXPLORE_PROFILE defined calls these two functions, which the harness provides; the events
   are the units the cost model prices (explore.cost.layer_work). */
enum explore_profile_event {
    EXPLORE_EV_FORWARD = 0, EXPLORE_EV_LOSS, EXPLORE_EV_MERGE, EXPLORE_EV_MASK, EXPLORE_EV_SELECT,
    EXPLORE_EV_WEIGHT_GRAD, EXPLORE_EV_INPUT_ERROR, EXPLORE_EV_POOL_BACKWARD, EXPLORE_EV_COPY, EXPLORE_EV_UPDATE,
    EXPLORE_EV_INPUT, EXPLORE_EV_COUNT
};

#ifdef EXPLORE_PROFILE
uint64_t explore_profile_clock(void);
void explore_profile_record(int32_t layer, uint32_t event, uint64_t instructions);
#define EXPLORE_PROFILED(layer, event, statement)                                        \
    do {                                                                                 \
        uint64_t profile_start_ = explore_profile_clock();                               \
        statement;                                                                       \
        explore_profile_record((layer), (event), explore_profile_clock() - profile_start_); \
    } while (0)
#else
#define EXPLORE_PROFILED(layer, event, statement) \
    do {                                          \
        statement;                                \
    } while (0)
#endif

#endif /* EXPLORE_RUNTIME_INTERNAL_H */
