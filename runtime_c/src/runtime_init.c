/* explore_init: refuse a model, arena or state that does not fit, then resolve the arena plan.
 *
 * The plan (explore.cost.lifetimes) names its buffers; the runtime walks the same schedule and looks every
 * buffer up by name, checking its size and bounds, so that training never writes outside a
 * buffer the plan gave it.  Nothing is written to the arena or the state before every check passed.
 */
#include <string.h>

#include "explore_rt.h"
#include "runtime_internal.h"

#define MAX_DIM 65535u
#define MAX_ELEMENTS (1u << 24)
/* Products of centred uint8 values lie in [-255, 255]^2: this many of them always fit in int32. */
#define MAX_TERMS 33025u

/* --- names of plan buffers ------------------------------------------------------------------ */

static char *append_text(char *out, const char *text)
{
    while (*text) {
        *out++ = *text++;
    }
    *out = '\0';
    return out;
}

static char *append_int(char *out, int32_t value)
{
    char digits[12];
    int n = 0;
    uint32_t v = value < 0 ? (uint32_t)(-(int64_t)value) : (uint32_t)value;
    if (value < 0) {
        *out++ = '-';
    }
    do {
        digits[n++] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v);
    while (n) {
        *out++ = digits[--n];
    }
    *out = '\0';
    return out;
}

static void buffer_name(char *out, const char *prefix, int32_t index, const char *suffix, int32_t second)
{
    out = append_int(append_text(out, prefix), index);
    if (suffix) {
        out = append_text(out, suffix);
    }
    if (second >= 0) {
        append_int(append_text(out, "."), second);
    }
}

/* Offset of the named buffer, or a negative status if it is missing, too small or out of bounds. */
static int32_t find_buffer(const explore_buffer_t *buffers, uint16_t count, uint32_t arena_bytes, const char *name,
                           uint32_t need)
{
    for (uint16_t k = 0; k < count; k++) {
        const explore_buffer_t *b = &buffers[k];
        if (!b->name || strcmp(b->name, name) != 0) {
            continue;
        }
        if (b->size < need || b->offset % 4u != 0 || b->offset > arena_bytes || b->size > arena_bytes - b->offset) {
            return EXPLORE_E_PLAN;
        }
        return (int32_t)b->offset;
    }
    return EXPLORE_E_PLAN;
}

/* --- layer table checks --------------------------------------------------------------------- */

static uint32_t product(const uint32_t *dims, uint8_t rank)
{
    uint32_t n = 1;
    for (uint8_t k = 0; k < rank; k++) {
        n *= dims[k];
    }
    return n;
}

static int same_shape(uint8_t rank_a, const uint32_t *a, uint8_t rank_b, const uint32_t *b)
{
    if (rank_a != rank_b) {
        return 0;
    }
    for (uint8_t k = 0; k < rank_a; k++) {
        if (a[k] != b[k]) {
            return 0;
        }
    }
    return 1;
}

static int dims_ok(uint8_t rank, const uint32_t *dims)
{
    if (rank < 1 || rank > 3) {
        return 0;
    }
    uint32_t n = 1;
    for (uint8_t k = 0; k < rank; k++) {
        if (dims[k] < 1 || dims[k] > MAX_DIM) {
            return 0;
        }
        n *= dims[k];
        if (n > MAX_ELEMENTS) {
            return 0;
        }
    }
    return 1;
}

static uint32_t conv_out(uint32_t n, uint32_t k, uint32_t stride, uint8_t padding)
{
    if (padding == EXPLORE_PAD_SAME) {
        return (n + stride - 1) / stride;
    }
    return n >= k ? (n - k) / stride + 1 : 0;
}

static explore_status_t check_conv(const explore_layer_t *l)
{
    uint8_t spatial = (uint8_t)(l->in_rank - 1);
    if (l->in_rank < 2 || l->out_rank != l->in_rank || l->padding > EXPLORE_PAD_VALID) {
        return EXPLORE_E_LAYER;
    }
    uint32_t fan = 1;
    for (uint8_t k = 0; k < spatial; k++) {
        if (l->kernel[k] < 1 || l->strides[k] < 1 ||
            l->out_shape[k] != conv_out(l->in_shape[k], l->kernel[k], l->strides[k], l->padding)) {
            return EXPLORE_E_SHAPE;
        }
        fan *= l->kernel[k];
    }
    uint32_t in_c = l->in_shape[spatial];
    if (l->channels != l->out_shape[spatial] || (l->depthwise && l->channels != in_c)) {
        return EXPLORE_E_SHAPE;
    }
    fan *= l->depthwise ? 1u : in_c;
    if (fan > MAX_ELEMENTS / l->channels || l->weight_count != fan * l->channels) {
        return EXPLORE_E_SHAPE;
    }
    return fan > MAX_TERMS ? EXPLORE_E_LAYER : EXPLORE_OK;
}

static explore_status_t check_dense(const explore_layer_t *l)
{
    uint32_t in = product(l->in_shape, l->in_rank);
    if (l->in_rank != 1 || l->out_rank != 1 || l->out_shape[0] != l->channels) {
        return EXPLORE_E_SHAPE;
    }
    if (in > MAX_ELEMENTS / l->channels || l->weight_count != in * l->channels) {
        return EXPLORE_E_SHAPE;
    }
    return in > MAX_TERMS ? EXPLORE_E_LAYER : EXPLORE_OK;
}

static explore_status_t check_pool(const explore_layer_t *l)
{
    uint8_t spatial = (uint8_t)(l->in_rank - 1);
    if (l->in_rank < 2 || l->out_rank != l->in_rank || l->out_shape[spatial] != l->in_shape[spatial]) {
        return EXPLORE_E_SHAPE;
    }
    uint32_t window = 1;
    for (uint8_t k = 0; k < spatial; k++) {
        if (l->window[k] < 1 || l->window[k] > l->in_shape[k] || l->out_shape[k] != l->in_shape[k] / l->window[k]) {
            return EXPLORE_E_SHAPE;
        }
        window *= l->window[k];
    }
    return window > 256u ? EXPLORE_E_LAYER : EXPLORE_OK;   /* winners are stored in one byte */
}

static explore_status_t check_params(const explore_layer_t *l)
{
    if (l->is_float) {
        return (l->w_f && l->bias_f) ? EXPLORE_OK : EXPLORE_E_LAYER;
    }
    if (!l->w_q || !l->b_q || !l->qparams) {
        return EXPLORE_E_LAYER;
    }
    return (l->trainable && !l->b_f) ? EXPLORE_E_LAYER : EXPLORE_OK;
}

static explore_status_t check_layer(const explore_model_t *m, uint16_t i, const explore_layer_t *l)
{
    const uint32_t *prev = i == 0 ? m->input_shape : m->layers[i - 1].out_shape;
    uint8_t prev_rank = i == 0 ? m->input_rank : m->layers[i - 1].out_rank;
    if (l->kind > EXPLORE_ADD || l->activation > EXPLORE_ACT_RELU6 || !dims_ok(l->out_rank, l->out_shape)) {
        return EXPLORE_E_LAYER;
    }
    if (!same_shape(l->in_rank, l->in_shape, prev_rank, prev)) {
        return EXPLORE_E_SHAPE;
    }
    int param = l->kind == EXPLORE_CONV || l->kind == EXPLORE_DENSE;
    if (!param && l->trainable) {
        return EXPLORE_E_LAYER;
    }
    explore_status_t status = EXPLORE_OK;
    switch (l->kind) {
    case EXPLORE_CONV: status = check_conv(l); break;
    case EXPLORE_DENSE: status = check_dense(l); break;
    case EXPLORE_MAXPOOL:
    case EXPLORE_AVGPOOL: status = check_pool(l); break;
    case EXPLORE_GLOBALAVGPOOL:
        status = (l->in_rank >= 2 && l->out_rank == 1 && l->out_shape[0] == l->in_shape[l->in_rank - 1])
                     ? EXPLORE_OK : EXPLORE_E_SHAPE;
        break;
    case EXPLORE_FLATTEN:
        status = (l->out_rank == 1 && l->out_shape[0] == product(l->in_shape, l->in_rank)) ? EXPLORE_OK
                                                                                            : EXPLORE_E_SHAPE;
        break;
    default: { /* EXPLORE_ADD */
        if (l->skip < -1 || l->skip >= (int16_t)i - 1) {
            return EXPLORE_E_LAYER;
        }
        const uint32_t *other = l->skip < 0 ? m->input_shape : m->layers[l->skip].out_shape;
        uint8_t other_rank = l->skip < 0 ? m->input_rank : m->layers[l->skip].out_rank;
        if (!same_shape(l->in_rank, l->in_shape, other_rank, other) ||
            !same_shape(l->in_rank, l->in_shape, l->out_rank, l->out_shape)) {
            return EXPLORE_E_SHAPE;
        }
        status = (l->is_float || l->add) ? EXPLORE_OK : EXPLORE_E_LAYER;
    }
    }
    return (status == EXPLORE_OK && param) ? check_params(l) : status;
}

/* First float layer from the table's flags; they must form a suffix that the configuration allows. */
static explore_status_t float_start(const explore_model_t *m, uint8_t *float_from)
{
    uint16_t start = m->num_layers;
    while (start > 0 && m->layers[start - 1].is_float) {
        start--;
    }
    for (uint16_t i = 0; i < start; i++) {
        if (m->layers[i].is_float) {
            return EXPLORE_E_LAYER;
        }
    }
    uint8_t config = m->training->config;
    int ok = (config == EXPLORE_CONFIG_UINT8 && start == m->num_layers) ||
             (config == EXPLORE_CONFIG_FLOAT32 && start == 0) ||
             (config == EXPLORE_CONFIG_MIXED && start > 0 && start < m->num_layers);
    *float_from = (uint8_t)start;
    return ok ? EXPLORE_OK : EXPLORE_E_TRAINING;
}

static explore_status_t check_training(const explore_model_t *m)
{
    const explore_training_config_t *t = m->training;
    if (t->config > EXPLORE_CONFIG_FLOAT32 || t->batch_size < 1 || !(t->lr > 0.0f) || !(t->lr < 1e30f) ||
        !(t->lambda_min >= 0.0f) || !(t->lambda_max <= 1.0f) || !(t->lambda_min <= t->lambda_max) ||
        t->num_trainable != m->num_trainable || t->num_trainable < 1 || !t->trainable_layers || !m->trainable) {
        return EXPLORE_E_TRAINING;
    }
    uint16_t listed = 0;
    for (uint16_t i = 0; i < m->num_layers; i++) {
        listed += m->layers[i].trainable ? 1u : 0u;
    }
    if (listed != t->num_trainable) {
        return EXPLORE_E_TRAINING;
    }
    for (uint16_t k = 0; k < t->num_trainable; k++) {
        const explore_trainable_t *e = &m->trainable[k];
        uint16_t i = t->trainable_layers[k];
        if (i >= m->num_layers || e->layer != i || (k > 0 && i <= t->trainable_layers[k - 1])) {
            return EXPLORE_E_TRAINING;
        }
        const explore_layer_t *l = &m->layers[i];
        if (!l->trainable || e->weight_count != l->weight_count || e->channels != l->channels) {
            return EXPLORE_E_TRAINING;
        }
        int writable = l->is_float ? (e->w_f && e->bias_f)
                                   : (e->w_q && e->b_q && e->b_f && e->qparams);
        /* the forward pass reads the layer table and the update writes the trainable entry: one state */
        int same = (const void *)l->w_q == (const void *)e->w_q && (const void *)l->b_q == (const void *)e->b_q &&
                   (const void *)l->b_f == (const void *)e->b_f && (const void *)l->qparams == (const void *)e->qparams &&
                   (const void *)l->w_f == (const void *)e->w_f && (const void *)l->bias_f == (const void *)e->bias_f;
        if (!writable || !same) {
            return EXPLORE_E_TRAINING;
        }
    }
    return EXPLORE_OK;
}

static explore_status_t check_model(const explore_model_t *m, uint8_t *float_from)
{
    if (!m->format || strcmp(m->format, EXPLORE_RT_FORMAT) != 0) {
        return EXPLORE_E_FORMAT;
    }
    if (!m->layers || !m->input_quant || !m->act_quant || !m->training || !m->training_buffers ||
        !m->inference_buffers || m->num_layers < 1 || m->num_layers > EXPLORE_MAX_LAYERS ||
        !dims_ok(m->input_rank, m->input_shape) || m->input_rank < 2) {
        return EXPLORE_E_LAYER;
    }
    for (uint16_t i = 0; i < m->num_layers; i++) {
        explore_status_t status = check_layer(m, i, &m->layers[i]);
        if (status != EXPLORE_OK) {
            return status;
        }
    }
    const explore_layer_t *last = &m->layers[m->num_layers - 1];
    if (last->kind != EXPLORE_DENSE || last->channels != m->num_classes || last->activation != EXPLORE_ACT_NONE ||
        m->num_classes < 2) {
        return EXPLORE_E_LAYER;
    }
    explore_status_t status = check_training(m);
    return status != EXPLORE_OK ? status : float_start(m, float_from);
}

/* --- plan resolution (the schedule of explore/cost/lifetimes.py) ------------------------------------ */

typedef struct {
    const explore_model_t *m;
    uint32_t arena_bytes;
    const explore_buffer_t *buffers;
    uint16_t count;
} plan_view_t;

static int32_t lookup(const plan_view_t *v, const char *prefix, int32_t index, const char *suffix, int32_t second,
                      uint32_t need)
{
    char name[32];
    buffer_name(name, prefix, index, suffix, second);
    return find_buffer(v->buffers, v->count, v->arena_bytes, name, need);
}

/* Buffers live at the same step must not share bytes: the runtime writes each one as planned. */
static explore_status_t check_overlaps(const explore_buffer_t *buffers, uint16_t count)
{
    for (uint16_t a = 0; a < count; a++) {
        for (uint16_t b = (uint16_t)(a + 1u); b < count; b++) {
            const explore_buffer_t *x = &buffers[a], *y = &buffers[b];
            int together = x->first_step <= y->last_step && y->first_step <= x->last_step;
            int shared = x->offset < y->offset + y->size && y->offset < x->offset + x->size;
            if (together && shared && x->size && y->size) {
                return EXPLORE_E_PLAN;
            }
        }
    }
    return EXPLORE_OK;
}

static explore_status_t resolve_activations(explore_ctx_t *ctx, const plan_view_t *v, int32_t *act, int training)
{
    const explore_model_t *m = ctx->model;
    act[0] = find_buffer(v->buffers, v->count, v->arena_bytes, "input", explore_rt_tensor_bytes(ctx, -1, -1));
    if (act[0] < 0) {
        return EXPLORE_E_PLAN;
    }
    for (int32_t i = 0; i < m->num_layers; i++) {
        const explore_layer_t *l = &m->layers[i];
        act[i + 1] = l->kind == EXPLORE_FLATTEN ? act[i] : lookup(v, "act", i, 0, -1,
                                                                 explore_rt_tensor_bytes(ctx, i, -1));
        if (act[i + 1] < 0) {
            return EXPLORE_E_PLAN;
        }
        if (training && l->kind == EXPLORE_MAXPOOL && i >= ctx->first) {
            ctx->arg[i] = lookup(v, "arg", i, 0, -1, product(l->out_shape, l->out_rank));
            if (ctx->arg[i] < 0) {
                return EXPLORE_E_PLAN;
            }
        }
    }
    return EXPLORE_OK;
}

static uint8_t consumer_count(const explore_model_t *m, int32_t tensor)
{
    uint8_t n = 0;
    for (int32_t c = tensor + 1; c < m->num_layers; c++) {
        n += (c - 1 == tensor || (m->layers[c].kind == EXPLORE_ADD && m->layers[c].skip == tensor)) ? 1u : 0u;
    }
    return n;
}

static explore_status_t resolve_consumers(explore_ctx_t *ctx)
{
    const explore_model_t *m = ctx->model;
    int32_t last = m->num_layers - 1;
    for (int32_t t = ctx->first; t <= last; t++) {
        ctx->num_consumers[t] = 0;
    }
    for (int32_t c = ctx->first + 1; c <= m->num_layers; c++) {
        int32_t tensors[2] = {c - 1, -2};
        if (c < m->num_layers && m->layers[c].kind == EXPLORE_ADD) {
            tensors[1] = m->layers[c].skip;
        }
        for (int k = 0; k < 2; k++) {
            int32_t t = tensors[k];
            if (t < ctx->first) {
                continue;
            }
            if (ctx->num_consumers[t] >= EXPLORE_MAX_CONSUMERS) {
                return EXPLORE_E_LAYER;
            }
            ctx->consumers[t][ctx->num_consumers[t]++] = (uint8_t)c;
        }
    }
    return EXPLORE_OK;
}

/* Name of the error layer i sends to its input: err{i-1}, or err{i-1}.{i} if i-1 has two readers. */
static int32_t input_error_buffer(const plan_view_t *v, int32_t i, uint32_t need)
{
    int shared = consumer_count(v->m, i - 1) > 1;
    return lookup(v, "err", i - 1, 0, shared ? i : -1, need);
}

/* An activated layer masks its incoming error in place; behind a residual add that error is also
   the skip's, so the planner gives the add a private copy for it (explore.cost.lifetimes). */
static int masks_error(const explore_model_t *m, int32_t layer)
{
    while (layer >= 0 && m->layers[layer].kind == EXPLORE_FLATTEN) {
        layer--;
    }
    return layer >= 0 && m->layers[layer].activation != EXPLORE_ACT_NONE;
}

static explore_status_t resolve_backward_layer(explore_ctx_t *ctx, const plan_view_t *v, int32_t i)
{
    const explore_model_t *m = ctx->model;
    const explore_layer_t *l = &m->layers[i];
    int layer_float = i >= ctx->float_from;
    int need_input = i - 1 >= ctx->first;
    uint32_t in_bytes = explore_rt_tensor_bytes(ctx, i - 1, layer_float);
    ctx->merged[i] = ctx->produced[i] = ctx->acc[i] = ctx->select[i] = ctx->copy[i] = -1;
    if (explore_rt_needs_merge(ctx, i)) {
        const char *suffix = ctx->num_consumers[i] > 1 ? ".sum" : ".q";
        ctx->merged[i] = lookup(v, "err", i, suffix, -1, explore_rt_tensor_bytes(ctx, i, -1));
        if (ctx->merged[i] < 0) {
            return EXPLORE_E_PLAN;
        }
    }
    if (l->kind == EXPLORE_CONV || l->kind == EXPLORE_DENSE) {
        if (ctx->sparse && l->trainable) {
            ctx->select[i] = lookup(v, "select", i, 0, -1, explore_select_scratch_bytes(l->channels));
        }
        if (need_input && !layer_float) {
            ctx->acc[i] = lookup(v, "acc", i, 0, -1,
                                 explore_conv_input_error_q_scratch_bytes(product(l->in_shape, l->in_rank)));
        }
        if ((ctx->sparse && l->trainable && ctx->select[i] < 0) || (need_input && !layer_float && ctx->acc[i] < 0)) {
            return EXPLORE_E_PLAN;
        }
    }
    int produces = l->kind != EXPLORE_FLATTEN && l->kind != EXPLORE_ADD;
    if (need_input && produces) {
        ctx->produced[i] = input_error_buffer(v, i, in_bytes);
        if (ctx->produced[i] < 0) {
            return EXPLORE_E_PLAN;
        }
    }
    if (need_input && l->kind == EXPLORE_ADD && masks_error(m, i - 1)) {
        ctx->copy[i] = input_error_buffer(v, i, in_bytes);
        if (ctx->copy[i] < 0) {
            return EXPLORE_E_PLAN;
        }
    }
    return EXPLORE_OK;
}

static explore_status_t resolve_training(explore_ctx_t *ctx, uint32_t arena_bytes)
{
    const explore_model_t *m = ctx->model;
    plan_view_t v = {m, arena_bytes, m->training_buffers, m->num_training_buffers};
    explore_status_t status = resolve_activations(ctx, &v, ctx->act, 1);
    if (status != EXPLORE_OK) {
        return status;
    }
    int32_t last = m->num_layers - 1;
    ctx->dlogits = find_buffer(v.buffers, v.count, v.arena_bytes, "dlogits", 4u * m->num_classes);
    ctx->produced[m->num_layers] = last >= ctx->float_from ? ctx->dlogits
                                                           : lookup(&v, "err", last, 0, -1, m->num_classes);
    if (ctx->dlogits < 0 || ctx->produced[m->num_layers] < 0) {
        return EXPLORE_E_PLAN;
    }
    status = resolve_consumers(ctx);
    for (int32_t i = last; status == EXPLORE_OK && i >= ctx->first; i--) {
        status = resolve_backward_layer(ctx, &v, i);
    }
    return status;
}

/* --- state --------------------------------------------------------------------------------- */

static uint32_t layer_state_floats(const explore_layer_t *l)
{
    return l->weight_count + 3u * l->channels + 1u;
}

uint32_t explore_state_floats(const explore_model_t *model)
{
    uint8_t float_from;
    if (!model || check_model(model, &float_from) != EXPLORE_OK) {
        return 0;
    }
    uint32_t total = 0;
    for (uint16_t i = 0; i < model->num_layers; i++) {
        total += model->layers[i].trainable ? layer_state_floats(&model->layers[i]) : 0u;
    }
    return total;
}

static void assign_state(explore_ctx_t *ctx)
{
    const explore_model_t *m = ctx->model;
    uint32_t at = 0;
    for (uint16_t i = 0; i < m->num_layers; i++) {
        const explore_layer_t *l = &m->layers[i];
        ctx->trainable_entry[i] = -1;
        if (!l->trainable) {
            continue;
        }
        explore_grad_state_t *g = &ctx->grads[i];
        g->grad_w = at;
        g->grad_b = g->grad_w + l->weight_count;
        g->mean = g->grad_b + l->channels;
        g->m2 = g->mean + l->channels;
        g->count = g->m2 + l->channels;
        at += layer_state_floats(l);
    }
    for (uint16_t k = 0; k < m->num_trainable; k++) {
        ctx->trainable_entry[m->trainable[k].layer] = (int16_t)k;
    }
    memset(ctx->state, 0, (size_t)at * sizeof(float));
}

static void activation_limits(explore_ctx_t *ctx)
{
    const explore_model_t *m = ctx->model;
    for (uint16_t i = 0; i < m->num_layers; i++) {
        const explore_tensor_quant_t *q = &m->act_quant[i];
        explore_activation_range(m->layers[i].activation, q->scale, q->zero, &ctx->out_low[i], &ctx->out_high[i]);
        explore_gradient_window(m->layers[i].activation, q->scale, q->zero, &ctx->pass_low[i], &ctx->pass_high[i]);
    }
}

static explore_status_t check_quant(const explore_model_t *m)
{
    for (int32_t t = -1; t < m->num_layers; t++) {
        const explore_tensor_quant_t *q = t < 0 ? m->input_quant : &m->act_quant[t];
        if (!(q->scale > 0.0f) || !(q->scale < 1e30f) || q->zero < 0 || q->zero > 255) {
            return EXPLORE_E_LAYER;
        }
    }
    return EXPLORE_OK;
}

explore_status_t explore_init(explore_ctx_t *ctx, const explore_model_t *model, uint8_t *arena,
                              uint32_t arena_bytes, float *state, uint32_t state_bytes)
{
    if (!ctx || !model || !arena || ((uintptr_t)arena % 4u) != 0) {
        return EXPLORE_E_ARGUMENT;
    }
    memset(ctx, 0, sizeof *ctx);
    ctx->model = model;
    explore_status_t status = check_model(model, &ctx->float_from);
    if (status == EXPLORE_OK) {
        status = check_quant(model);
    }
    if (status != EXPLORE_OK) {
        return status;
    }
    if (arena_bytes < model->training_arena_bytes || arena_bytes < model->inference_arena_bytes) {
        return EXPLORE_E_ARENA;
    }
    uint32_t floats = explore_state_floats(model);
    if (state_bytes / sizeof(float) < floats || (floats > 0 && !state)) {
        return EXPLORE_E_STATE;
    }
    ctx->first = (uint8_t)model->training->trainable_layers[0];
    ctx->sparse = model->training->lambda_min < 1.0f;
    plan_view_t inference = {model, model->inference_arena_bytes, model->inference_buffers,
                             model->num_inference_buffers};
    status = check_overlaps(model->training_buffers, model->num_training_buffers);
    if (status == EXPLORE_OK) {
        status = check_overlaps(model->inference_buffers, model->num_inference_buffers);
    }
    if (status == EXPLORE_OK) {
        status = resolve_activations(ctx, &inference, ctx->infer_act, 0);
    }
    if (status == EXPLORE_OK) {
        status = resolve_training(ctx, model->training_arena_bytes);
    }
    if (status != EXPLORE_OK) {
        return status;
    }
    ctx->arena = arena;
    ctx->state = state;
    assign_state(ctx);
    activation_limits(ctx);
    ctx->initialised = 1;
    return EXPLORE_OK;
}

const char *explore_status_name(explore_status_t status)
{
    switch (status) {
    case EXPLORE_OK: return "ok";
    case EXPLORE_E_ARGUMENT: return "bad argument";
    case EXPLORE_E_FORMAT: return "wrong bundle format";
    case EXPLORE_E_LAYER: return "bad layer table";
    case EXPLORE_E_SHAPE: return "tensor size mismatch";
    case EXPLORE_E_PLAN: return "arena plan missing a buffer or out of bounds";
    case EXPLORE_E_ARENA: return "arena too small";
    case EXPLORE_E_STATE: return "training state too small";
    case EXPLORE_E_TRAINING: return "bad training configuration";
    case EXPLORE_E_NOT_INITIALISED: return "not initialised";
    default: return "unknown status";
    }
}
