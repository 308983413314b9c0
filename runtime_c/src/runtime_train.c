/* One training sample (forward, loss, backward into the gradient buffers) and the end-of-minibatch
 * update, following explore/fqt/simulator.py step by step. */
#include <string.h>

#include "runtime_internal.h"

void explore_rt_conv_geom(const explore_layer_t *l, explore_conv_geom_t *g);
void explore_rt_pool_geom(const explore_layer_t *l, explore_pool_geom_t *g);
void explore_rt_forward(explore_ctx_t *ctx, const int32_t *act, const float *input, int keep);
void explore_rt_logits(const explore_ctx_t *ctx, const int32_t *act, float *logits);

static const explore_tensor_quant_t *tensor_quant(const explore_ctx_t *ctx, int32_t t)
{
    return t < 0 ? ctx->model->input_quant : &ctx->model->act_quant[t];
}

static float *floats_at(const explore_ctx_t *ctx, int32_t offset)
{
    return (float *)(void *)(ctx->arena + offset);
}

/* --- loss and sparse-update rate (design 5, 10) ---------------------------------------------- */

static float loss_step(explore_ctx_t *ctx, int32_t label, float *loss)
{
    const explore_model_t *m = ctx->model;
    float *dlogits = floats_at(ctx, ctx->dlogits);
    explore_rt_logits(ctx, ctx->act, dlogits);
    *loss = explore_softmax_cross_entropy(dlogits, m->num_classes, label, dlogits);
    explore_error_t *out = &ctx->outgoing[m->num_layers];
    out->offset = ctx->produced[m->num_layers];
    out->is_float = (uint8_t)(m->num_layers - 1 >= ctx->float_from);
    if (!out->is_float) {
        out->zero = explore_quantize_float(dlogits, m->num_classes, ctx->arena + out->offset, &out->scale);
    }
    float running = ctx->loss_max > *loss ? ctx->loss_max : *loss;
    ctx->loss_max = running;
    const explore_training_config_t *t = m->training;
    float eps = running > 0.0f ? *loss / running : 0.0f;
    float rate = t->lambda_min + eps * (t->lambda_max - t->lambda_min);
    return rate < 1.0f ? rate : 1.0f;
}

/* --- incoming errors ------------------------------------------------------------------------ */

/* The error consumer c sent to tensor t. */
static explore_error_t arrival(const explore_ctx_t *ctx, int32_t t, int32_t c)
{
    const explore_model_t *m = ctx->model;
    if (c == m->num_layers) {
        return ctx->outgoing[c];
    }
    const explore_layer_t *l = &m->layers[c];
    if (l->kind == EXPLORE_FLATTEN) {
        return ctx->incoming[c];
    }
    if (l->kind == EXPLORE_ADD) {
        explore_error_t e = ctx->incoming[c];
        if (t == c - 1 && ctx->copy[c] >= 0) {
            e.offset = ctx->copy[c];
        }
        return e;
    }
    return ctx->outgoing[c];
}

static float arrival_value(const explore_ctx_t *ctx, const explore_error_t *e, uint32_t k)
{
    if (e->is_float) {
        return floats_at(ctx, e->offset)[k];
    }
    return e->scale * (float)((int32_t)ctx->arena[e->offset + k] - e->zero);
}

/* Sum of the arrivals at element k, in consumer order (simulator._merge). */
static float merged_value(const explore_ctx_t *ctx, const explore_error_t *arrivals, uint8_t n, uint32_t k)
{
    float total = arrival_value(ctx, &arrivals[0], k);
    for (uint8_t a = 1; a < n; a++) {
        total = total + arrival_value(ctx, &arrivals[a], k);
    }
    return total;
}

/* Requantize the summed arrivals into the merged buffer: range first, then codes (no scratch). */
static void merge_quantized(explore_ctx_t *ctx, uint32_t i, const explore_error_t *arrivals, uint8_t n)
{
    explore_error_t *in = &ctx->incoming[i];
    uint32_t count = explore_rt_layer_elements(ctx, i);
    float lo = merged_value(ctx, arrivals, n, 0), hi = lo;
    for (uint32_t k = 1; k < count; k++) {
        float v = merged_value(ctx, arrivals, n, k);
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
    }
    explore_choose_qparams(lo, hi, 1.0f, &in->scale, &in->zero);
    float inv = 1.0f / in->scale;
    uint8_t *q = ctx->arena + in->offset;
    for (uint32_t k = 0; k < count; k++) {
        q[k] = explore_quantize_value(merged_value(ctx, arrivals, n, k), inv, in->zero);
    }
}

static void gather_error(explore_ctx_t *ctx, uint32_t i)
{
    explore_error_t arrivals[EXPLORE_MAX_CONSUMERS];
    uint8_t n = ctx->num_consumers[i];
    for (uint8_t a = 0; a < n; a++) {
        arrivals[a] = arrival(ctx, (int32_t)i, ctx->consumers[i][a]);
    }
    explore_error_t *in = &ctx->incoming[i];
    if (ctx->merged[i] < 0) {
        *in = arrivals[0];
        return;
    }
    in->offset = ctx->merged[i];
    in->is_float = (uint8_t)(i >= ctx->float_from);
    if (!in->is_float) {
        merge_quantized(ctx, i, arrivals, n);
        return;
    }
    float *out = floats_at(ctx, in->offset);
    uint32_t count = explore_rt_layer_elements(ctx, i);
    for (uint32_t k = 0; k < count; k++) {
        out[k] = merged_value(ctx, arrivals, n, k);
    }
}

static void mask_error(explore_ctx_t *ctx, uint32_t i)
{
    const explore_layer_t *l = &ctx->model->layers[i];
    if (l->activation == EXPLORE_ACT_NONE) {
        return;
    }
    explore_error_t *in = &ctx->incoming[i];
    uint32_t n = explore_rt_layer_elements(ctx, i);
    const uint8_t *y = ctx->arena + ctx->act[i + 1];
    if (in->is_float) {
        explore_mask_f(floats_at(ctx, in->offset), (const float *)(const void *)y, n, l->activation);
    } else {
        explore_mask_u8(ctx->arena + in->offset, in->zero, y, n, ctx->pass_low[i], ctx->pass_high[i]);
    }
}

/* --- conv / dense backward ------------------------------------------------------------------ */

/* Sparse selection of layer i's output channels; returns the kept list (NULL: all) and its length. */
static const uint16_t *select_channels(explore_ctx_t *ctx, int32_t i, const explore_conv_geom_t *g, float rate,
                                       uint32_t *num_kept)
{
    *num_kept = g->out_c;
    if (ctx->select[i] < 0) {
        return 0;
    }
    const explore_error_t *e = &ctx->incoming[i];
    uint8_t *scratch = ctx->arena + ctx->select[i];
    /* explore_select_scratch_bytes: l1 norms (4 bytes per channel), then keep flags (1); once the flags
       are set, the norms are dead and their space takes the kept list (2 bytes per channel). */
    uint8_t *keep = scratch + 4u * g->out_c;
    uint16_t *kept = (uint16_t *)(void *)scratch;
    uint32_t positions = g->out_h * g->out_w;
    if (e->is_float) {
        explore_select_f(floats_at(ctx, e->offset), positions, g->out_c, rate, (float *)(void *)scratch, keep);
    } else {
        explore_select_u8(ctx->arena + e->offset, e->zero, positions, g->out_c, rate, (uint32_t *)(void *)scratch,
                          keep);
    }
    *num_kept = explore_kept_list(keep, g->out_c, kept);
    return kept;
}

static explore_grad_sink_t grad_sink(const explore_ctx_t *ctx, int32_t i)
{
    const explore_grad_state_t *s = &ctx->grads[i];
    explore_grad_sink_t sink = {ctx->state + s->grad_w, ctx->state + s->grad_b, ctx->state + s->mean,
                                ctx->state + s->m2, ctx->state[s->count]};
    return sink;
}

static void input_error(explore_ctx_t *ctx, int32_t i, const explore_conv_geom_t *g, const uint16_t *kept,
                        uint32_t num_kept)
{
    const explore_layer_t *l = &ctx->model->layers[i];
    const explore_error_t *e = &ctx->incoming[i];
    explore_error_t *out = &ctx->outgoing[i];
    out->offset = ctx->produced[i];
    out->is_float = e->is_float;
    if (e->is_float) {
        explore_conv_input_error_f(g, floats_at(ctx, e->offset), l->w_f, kept, num_kept, floats_at(ctx, out->offset));
        return;
    }
    int32_t *acc = (int32_t *)(void *)(ctx->arena + ctx->acc[i]);
    explore_conv_input_error_q(g, ctx->arena + e->offset, e->zero, l->w_q, l->qparams->w_zero, kept, num_kept, acc);
    out->zero = explore_quantize_acc(acc, g->in_h * g->in_w * g->in_c, l->qparams->w_scale * e->scale,
                                     ctx->arena + out->offset, &out->scale);
}

static void weight_gradient(explore_ctx_t *ctx, int32_t i, const explore_conv_geom_t *g, const uint16_t *kept,
                            uint32_t num_kept)
{
    const explore_error_t *e = &ctx->incoming[i];
    const explore_tensor_quant_t *xq = tensor_quant(ctx, i - 1);
    const uint8_t *x = ctx->arena + ctx->act[i];
    explore_grad_sink_t sink = grad_sink(ctx, i);
    if (e->is_float) {
        explore_float_input_t xf = {0, 0, xq->scale, xq->zero};
        if (explore_rt_tensor_float(ctx, i - 1)) {
            xf.f = (const float *)(const void *)x;
        } else {
            xf.q = x;
        }
        explore_conv_weight_grad_f(g, &xf, floats_at(ctx, e->offset), kept, num_kept, &sink);
    } else {
        explore_conv_weight_grad_q(g, x, xq->zero, xq->scale, ctx->arena + e->offset, e->zero, e->scale, kept,
                                   num_kept, &sink);
    }
    ctx->state[ctx->grads[i].count] = sink.count + (float)explore_conv_fan_in(g);
}

static float param_backward(explore_ctx_t *ctx, int32_t i, float rate)
{
    const explore_layer_t *l = &ctx->model->layers[i];
    explore_conv_geom_t g;
    explore_rt_conv_geom(l, &g);
    uint32_t num_kept = g.out_c;
    const uint16_t *kept = 0;
    if (l->trainable) {
        EXPLORE_PROFILED(i, EXPLORE_EV_SELECT, kept = select_channels(ctx, i, &g, rate, &num_kept));
        EXPLORE_PROFILED(i, EXPLORE_EV_WEIGHT_GRAD, weight_gradient(ctx, i, &g, kept, num_kept));
    }
    if (i - 1 >= ctx->first) {
        EXPLORE_PROFILED(i, EXPLORE_EV_INPUT_ERROR, input_error(ctx, i, &g, kept, num_kept));
    }
    /* times the reciprocal, as the simulator's contract writes every division by a constant */
    return (float)num_kept * (1.0f / (float)g.out_c);
}

/* --- pooling and add backward --------------------------------------------------------------- */

static void pool_backward(explore_ctx_t *ctx, int32_t i)
{
    const explore_layer_t *l = &ctx->model->layers[i];
    const explore_error_t *e = &ctx->incoming[i];
    explore_error_t *out = &ctx->outgoing[i];
    explore_pool_geom_t g;
    explore_rt_pool_geom(l, &g);
    *out = *e;
    out->offset = ctx->produced[i];
    uint8_t *dx = ctx->arena + out->offset;
    const uint8_t *err = ctx->arena + e->offset;
    if (l->kind == EXPLORE_MAXPOOL) {
        const uint8_t *arg = ctx->arena + ctx->arg[i];
        if (e->is_float) {
            explore_maxpool_backward_f(&g, (const float *)(const void *)err, arg, (float *)(void *)dx);
        } else {
            explore_maxpool_backward_u8(&g, err, arg, (uint8_t)e->zero, dx);
        }
        return;
    }
    float inv_count = 1.0f / (float)(g.win_h * g.win_w);
    if (e->is_float) {
        explore_avgpool_backward_f(&g, (const float *)(const void *)err, inv_count, (float *)(void *)dx);
    } else {
        explore_avgpool_backward_u8(&g, err, e->zero, dx);
        out->scale = e->scale * inv_count;
    }
}

static void add_backward(explore_ctx_t *ctx, int32_t i)
{
    if (ctx->copy[i] < 0) {
        return;
    }
    const explore_error_t *e = &ctx->incoming[i];
    uint32_t bytes = explore_rt_tensor_bytes(ctx, i, e->is_float);
    memcpy(ctx->arena + ctx->copy[i], ctx->arena + e->offset, bytes);
}

static void backward(explore_ctx_t *ctx, float rate, float *kept_fraction)
{
    const explore_model_t *m = ctx->model;
    uint16_t reported = 0;
    for (uint32_t n = m->num_layers; n-- > ctx->first;) {
        int32_t i = (int32_t)n;
        const explore_layer_t *l = &m->layers[n];
        if (ctx->merged[i] >= 0) {
            EXPLORE_PROFILED(i, EXPLORE_EV_MERGE, gather_error(ctx, n));
        } else {
            gather_error(ctx, n);
        }
        if (l->activation != EXPLORE_ACT_NONE) {
            EXPLORE_PROFILED(i, EXPLORE_EV_MASK, mask_error(ctx, n));
        }
        if (l->kind == EXPLORE_CONV || l->kind == EXPLORE_DENSE) {
            float kept = param_backward(ctx, i, ctx->sparse ? rate : 1.0f);
            if (l->trainable && kept_fraction) {
                /* layers are visited last to first; trainable_layers[] runs first to last */
                kept_fraction[m->num_trainable - 1u - reported] = kept;
            }
            reported += l->trainable ? 1u : 0u;
        } else if (i - 1 >= ctx->first && l->kind != EXPLORE_FLATTEN && l->kind != EXPLORE_ADD) {
            EXPLORE_PROFILED(i, EXPLORE_EV_POOL_BACKWARD, pool_backward(ctx, i));
        } else if (l->kind == EXPLORE_ADD && ctx->copy[i] >= 0) {
            EXPLORE_PROFILED(i, EXPLORE_EV_COPY, add_backward(ctx, i));
        }
    }
}

explore_status_t explore_train_sample(explore_ctx_t *ctx, const float *input, int32_t label, float *loss,
                                      float *kept_fraction)
{
    if (!ctx || !input || !loss) {
        return EXPLORE_E_ARGUMENT;
    }
    if (!ctx->initialised || !ctx->state) {
        return EXPLORE_E_NOT_INITIALISED;
    }
    if (label < 0 || label >= (int32_t)ctx->model->num_classes) {
        return EXPLORE_E_ARGUMENT;
    }
    explore_rt_forward(ctx, ctx->act, input, 1);
    float rate = 1.0f;
    EXPLORE_PROFILED(ctx->model->num_layers, EXPLORE_EV_LOSS, rate = loss_step(ctx, label, loss));
    backward(ctx, rate, kept_fraction);
    ctx->batch_samples++;
    return EXPLORE_OK;
}

/* --- the update (design 8, 9) --------------------------------------------------------------- */

static void update_layer(explore_ctx_t *ctx, int32_t i, float inv_n)
{
    const explore_model_t *m = ctx->model;
    const explore_layer_t *l = &m->layers[i];
    const explore_trainable_t *t = &m->trainable[ctx->trainable_entry[i]];
    const explore_grad_state_t *s = &ctx->grads[i];
    float *state = ctx->state;
    float lr = m->training->lr;
    uint32_t fan_in = l->weight_count / l->channels;
    float count = state[s->count];
    if (l->is_float) {
        explore_update_f(t->w_f, state + s->grad_w, state + s->mean, state + s->m2, count, inv_n, lr, fan_in,
                         l->channels);
        for (uint32_t c = 0; c < l->channels; c++) {
            t->bias_f[c] = t->bias_f[c] - lr * (state[s->grad_b + c] * inv_n);
        }
        return;
    }
    explore_qparams_t *qp = t->qparams;
    explore_update_q(t->w_q, &qp->w_scale, &qp->w_zero, state + s->grad_w, state + s->mean, state + s->m2, count,
                     inv_n, lr, fan_in, l->channels);
    float x_scale = tensor_quant(ctx, i - 1)->scale;
    for (uint32_t c = 0; c < l->channels; c++) {
        t->b_f[c] = t->b_f[c] - lr * (state[s->grad_b + c] * inv_n);
        t->b_q[c] = explore_bias_q(t->b_f[c], qp->w_scale, x_scale);
    }
    explore_requant_multiplier(qp->w_scale, x_scale, m->act_quant[i].scale, &qp->m0, &qp->shift);
}

explore_status_t explore_update(explore_ctx_t *ctx)
{
    if (!ctx) {
        return EXPLORE_E_ARGUMENT;
    }
    if (!ctx->initialised || !ctx->state) {
        return EXPLORE_E_NOT_INITIALISED;
    }
    if (ctx->batch_samples == 0) {
        return EXPLORE_OK;
    }
    const explore_model_t *m = ctx->model;
    float inv_n = 1.0f / (float)ctx->batch_samples;
    uint32_t floats = 0;
    for (uint16_t k = 0; k < m->num_trainable; k++) {
        int32_t i = m->trainable[k].layer;
        EXPLORE_PROFILED(i, EXPLORE_EV_UPDATE, update_layer(ctx, i, inv_n));
        floats += m->layers[i].weight_count + 3u * m->layers[i].channels + 1u;
    }
    memset(ctx->state, 0, (size_t)floats * sizeof(float));
    ctx->batch_samples = 0;
    return EXPLORE_OK;
}
