/* The forward pass over the layer table, in the training plan (keeping what backward needs) or in
 * the inference plan; and explore_infer. */
#include <string.h>

#include "runtime_internal.h"

void explore_rt_conv_geom(const explore_layer_t *l, explore_conv_geom_t *g)
{
    memset(g, 0, sizeof *g);
    if (l->kind == EXPLORE_DENSE) {
        uint32_t in = 1;
        for (uint8_t k = 0; k < l->in_rank; k++) {
            in *= l->in_shape[k];
        }
        g->in_h = g->in_w = g->out_h = g->out_w = 1;
        g->k_h = g->k_w = g->stride_h = g->stride_w = 1;
        g->in_c = in;
        g->out_c = l->channels;
        return;
    }
    /* 1-D (length, channels) is a 2-D image of height 1. */
    int two_d = l->in_rank == 3;
    g->in_h = two_d ? l->in_shape[0] : 1u;
    g->in_w = l->in_shape[two_d ? 1 : 0];
    g->in_c = l->in_shape[two_d ? 2 : 1];
    g->out_h = two_d ? l->out_shape[0] : 1u;
    g->out_w = l->out_shape[two_d ? 1 : 0];
    g->out_c = l->channels;
    g->k_h = two_d ? l->kernel[0] : 1u;
    g->k_w = l->kernel[two_d ? 1 : 0];
    g->stride_h = two_d ? l->strides[0] : 1u;
    g->stride_w = l->strides[two_d ? 1 : 0];
    g->depthwise = l->depthwise;
    if (l->padding == EXPLORE_PAD_SAME) {
        /* XLA's SAME: the smaller half of the padding goes first. */
        int32_t total_h = (int32_t)((g->out_h - 1) * g->stride_h + g->k_h) - (int32_t)g->in_h;
        int32_t total_w = (int32_t)((g->out_w - 1) * g->stride_w + g->k_w) - (int32_t)g->in_w;
        g->pad_top = total_h > 0 ? (uint32_t)total_h / 2u : 0u;
        g->pad_left = total_w > 0 ? (uint32_t)total_w / 2u : 0u;
    }
}

void explore_rt_pool_geom(const explore_layer_t *l, explore_pool_geom_t *g)
{
    int two_d = l->in_rank == 3;
    g->in_h = two_d ? l->in_shape[0] : 1u;
    g->in_w = l->in_shape[two_d ? 1 : 0];
    g->c = l->in_shape[l->in_rank - 1];
    if (l->kind == EXPLORE_GLOBALAVGPOOL) {
        g->win_h = g->in_h;
        g->win_w = g->in_w;
    } else {
        g->win_h = two_d ? l->window[0] : 1u;
        g->win_w = l->window[two_d ? 1 : 0];
    }
    g->out_h = g->in_h / g->win_h;
    g->out_w = g->in_w / g->win_w;
}

static void param_forward(const explore_ctx_t *ctx, int32_t i, const uint8_t *in, uint8_t *out)
{
    const explore_model_t *m = ctx->model;
    const explore_layer_t *l = &m->layers[i];
    const explore_tensor_quant_t *xq = i == 0 ? m->input_quant : &m->act_quant[i - 1];
    explore_conv_geom_t g;
    explore_rt_conv_geom(l, &g);
    if (i >= ctx->float_from) {
        explore_float_input_t x = {0, 0, xq->scale, xq->zero};
        if (explore_rt_tensor_float(ctx, i - 1)) {
            x.f = (const float *)(const void *)in;
        } else {
            x.q = in;
        }
        explore_conv_forward_f(&g, &x, l->w_f, l->bias_f, l->activation, (float *)(void *)out);
        return;
    }
    /* a trainable layer's qparams are the writable copy the update rewrites (the table points to it) */
    const explore_qparams_t *qp = l->qparams;
    explore_conv_q_params_t p = {xq->zero, qp->w_zero, m->act_quant[i].zero, qp->m0, qp->shift,
                                 ctx->out_low[i], ctx->out_high[i]};
    explore_conv_forward_q(&g, &p, in, l->w_q, l->b_q, out);
}

static void add_forward(const explore_ctx_t *ctx, int32_t i, const uint8_t *a, const uint8_t *b, uint8_t *out)
{
    const explore_model_t *m = ctx->model;
    const explore_layer_t *l = &m->layers[i];
    uint32_t n = explore_rt_elements(ctx, i);
    if (i >= ctx->float_from) {
        explore_add_forward_f((const float *)(const void *)a, (const float *)(const void *)b, n, l->activation,
                              (float *)(void *)out);
        return;
    }
    const explore_add_params_t *ap = l->add;
    int32_t skip_zero = l->skip < 0 ? m->input_quant->zero : m->act_quant[l->skip].zero;
    int32_t a_zero = i == 0 ? m->input_quant->zero : m->act_quant[i - 1].zero;
    explore_add_q_params_t p = {a_zero, skip_zero, m->act_quant[i].zero, ap->m_a, ap->shift_a, ap->m_b,
                                ap->shift_b, ap->m_out, ap->shift_out, ctx->out_low[i], ctx->out_high[i]};
    explore_add_forward_q(&p, a, b, n, out);
}

static void pool_forward(const explore_ctx_t *ctx, int32_t i, const uint8_t *in, uint8_t *out, uint8_t *arg)
{
    const explore_layer_t *l = &ctx->model->layers[i];
    explore_pool_geom_t g;
    explore_rt_pool_geom(l, &g);
    int is_float = i >= ctx->float_from;
    if (l->kind == EXPLORE_MAXPOOL) {
        if (is_float) {
            explore_maxpool_forward_f(&g, (const float *)(const void *)in, (float *)(void *)out, arg);
        } else {
            explore_maxpool_forward_u8(&g, in, out, arg);
        }
    } else if (is_float) {
        explore_avgpool_forward_f(&g, (const float *)(const void *)in, (float *)(void *)out);
    } else {
        explore_avgpool_forward_u8(&g, in, out);
    }
}

static void load_input(const explore_ctx_t *ctx, const float *input, uint8_t *dst)
{
    const explore_model_t *m = ctx->model;
    uint32_t n = explore_rt_elements(ctx, -1);
    if (explore_rt_tensor_float(ctx, -1)) {
        memcpy(dst, input, (size_t)n * sizeof(float));
        return;
    }
    explore_quantize_values(input, n, 1.0f / m->input_quant->scale, m->input_quant->zero, dst);
}

void explore_rt_forward(explore_ctx_t *ctx, const int32_t *act, const float *input, int keep)
{
    const explore_model_t *m = ctx->model;
    uint8_t *arena = ctx->arena;
    EXPLORE_PROFILED(m->num_layers, EXPLORE_EV_INPUT, load_input(ctx, input, arena + act[0]));
    for (int32_t i = 0; i < m->num_layers; i++) {
        const explore_layer_t *l = &m->layers[i];
        const uint8_t *in = arena + act[i];
        uint8_t *out = arena + act[i + 1];
        switch (l->kind) {
        case EXPLORE_CONV:
        case EXPLORE_DENSE: EXPLORE_PROFILED(i, EXPLORE_EV_FORWARD, param_forward(ctx, i, in, out)); break;
        case EXPLORE_MAXPOOL:
        case EXPLORE_AVGPOOL:
        case EXPLORE_GLOBALAVGPOOL: {
            uint8_t *arg = (keep && l->kind == EXPLORE_MAXPOOL && i >= ctx->first) ? arena + ctx->arg[i] : 0;
            EXPLORE_PROFILED(i, EXPLORE_EV_FORWARD, pool_forward(ctx, i, in, out, arg));
            break;
        }
        case EXPLORE_ADD:
            EXPLORE_PROFILED(i, EXPLORE_EV_FORWARD, add_forward(ctx, i, in, arena + act[l->skip + 1], out));
            break;
        default: break;   /* Flatten shares its input's buffer */
        }
    }
}

void explore_rt_logits(const explore_ctx_t *ctx, const int32_t *act, float *logits)
{
    const explore_model_t *m = ctx->model;
    int32_t last = m->num_layers - 1;
    const uint8_t *out = ctx->arena + act[last + 1];
    if (last >= ctx->float_from) {
        memmove(logits, out, (size_t)m->num_classes * sizeof(float));
        return;
    }
    const explore_tensor_quant_t *q = &m->act_quant[last];
    for (uint32_t c = 0; c < m->num_classes; c++) {
        logits[c] = (float)((int32_t)out[c] - q->zero) * q->scale;
    }
}

explore_status_t explore_infer(explore_ctx_t *ctx, const float *input, float *logits)
{
    if (!ctx || !input || !logits) {
        return EXPLORE_E_ARGUMENT;
    }
    if (!ctx->initialised) {
        return EXPLORE_E_NOT_INITIALISED;
    }
    explore_rt_forward(ctx, ctx->infer_act, input, 0);
    explore_rt_logits(ctx, ctx->infer_act, logits);
    return EXPLORE_OK;
}
