/* Golden-vector test of the integer conv / depthwise conv / dense kernels against
 * explore.fqt.kernels.param_forward_q / param_backward_q and simulator.accumulate /
 * channel_statistics (make_golden.py).  Per sample, as runtime_train.c does: select the kept
 * channels, weight gradient into the sink (running Welford statistics), input error into int32
 * accumulators, then its dynamic quantization. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "explore_kernels.h"
#include "golden/golden_check.h"
#include "golden/golden_conv.h"

typedef struct {
    const char *name;
    const explore_conv_geom_t *g;
    uint32_t batch;
    const uint8_t *x;
    int32_t x_zero;
    float x_scale;
    const uint8_t *w;
    int32_t w_zero;
    float w_scale;
    const int32_t *bias;
    int32_t m0, shift, y_zero, low, high;
    const uint8_t *want_y;
    const uint8_t *e;
    const int32_t *e_zero;
    const float *e_scale;
    const float *rate;
    const float *want_kept;
    const int32_t *want_up;
    const float *want_up_scale;
    const float *want_grad_w, *want_grad_b, *want_mean, *want_m2;
    float want_count;
} conv_case_t;

#define CASE(n) {#n, &n##_geom, n##_batch, n##_x, n##_x_zero, n##_x_scale, n##_w, n##_w_zero, n##_w_scale,      \
                 n##_bias, n##_m0, n##_shift, n##_y_zero, n##_low, n##_high, n##_want_y, n##_e, n##_e_zero,       \
                 n##_e_scale, n##_rate, n##_want_kept, n##_want_up, n##_want_up_scale, n##_want_grad_w,           \
                 n##_want_grad_b, n##_want_mean, n##_want_m2, n##_want_count}

static uint32_t run_case(const conv_case_t *t)
{
    const explore_conv_geom_t *g = t->g;
    uint32_t in_n = g->in_h * g->in_w * g->in_c;
    uint32_t out_n = g->out_h * g->out_w * g->out_c;
    uint32_t fan_in = explore_conv_fan_in(g);
    uint32_t w_n = fan_in * g->out_c;
    uint32_t checked = 0;
    char what[64];

    uint8_t *y = calloc(out_n, 1);
    int32_t *acc = calloc(in_n, sizeof *acc);
    uint8_t *up = calloc(in_n, 1);
    int32_t *up_centred = calloc(in_n, sizeof *up_centred);
    float *grad_w = calloc(w_n, sizeof *grad_w);
    float *grad_b = calloc(g->out_c, sizeof *grad_b);
    float *mean = calloc(g->out_c, sizeof *mean);
    float *m2 = calloc(g->out_c, sizeof *m2);
    uint32_t *l1 = calloc(g->out_c, sizeof *l1);
    uint8_t *keep = calloc(g->out_c, 1);
    uint16_t *kept = calloc(g->out_c, sizeof *kept);
    float count = 0.0f;
    explore_conv_q_params_t p = {t->x_zero, t->w_zero, t->y_zero, t->m0, t->shift, (uint8_t)t->low,
                                 (uint8_t)t->high};
    for (uint32_t s = 0; s < t->batch; s++) {
        const uint8_t *x = t->x + s * in_n;
        const uint8_t *e = t->e + s * out_n;
        explore_conv_forward_q(g, &p, x, t->w, t->bias, y);
        snprintf(what, sizeof what, "%s.forward[sample %u]", t->name, (unsigned)s);
        check_u8(what, y, t->want_y + s * out_n, out_n);

        explore_select_u8(e, t->e_zero[s], g->out_h * g->out_w, g->out_c, t->rate[s], l1, keep);
        uint32_t num_kept = explore_kept_list(keep, g->out_c, kept);
        float fraction = (float)num_kept * (1.0f / (float)g->out_c);
        snprintf(what, sizeof what, "%s.kept_fraction[sample %u]", t->name, (unsigned)s);
        check_one_f32(what, fraction, t->want_kept[s]);

        explore_grad_sink_t sink = {grad_w, grad_b, mean, m2, count};
        explore_conv_weight_grad_q(g, x, t->x_zero, t->x_scale, e, t->e_zero[s], t->e_scale[s], kept, num_kept,
                                   &sink);
        count = count + (float)fan_in;

        explore_conv_input_error_q(g, e, t->e_zero[s], t->w, t->w_zero, kept, num_kept, acc);
        float scale;
        int32_t zero = explore_quantize_acc(acc, in_n, t->w_scale * t->e_scale[s], up, &scale);
        for (uint32_t k = 0; k < in_n; k++) {
            up_centred[k] = (int32_t)up[k] - zero;
        }
        snprintf(what, sizeof what, "%s.input_error[sample %u]", t->name, (unsigned)s);
        check_i32(what, up_centred, t->want_up + s * in_n, in_n);
        snprintf(what, sizeof what, "%s.input_error_scale[sample %u]", t->name, (unsigned)s);
        check_one_f32(what, scale, t->want_up_scale[s]);
        checked += out_n + 2 + in_n;
    }
    snprintf(what, sizeof what, "%s.grad_w", t->name);
    check_f32(what, grad_w, t->want_grad_w, w_n);
    snprintf(what, sizeof what, "%s.grad_b", t->name);
    check_f32(what, grad_b, t->want_grad_b, g->out_c);
    snprintf(what, sizeof what, "%s.mean", t->name);
    check_f32(what, mean, t->want_mean, g->out_c);
    snprintf(what, sizeof what, "%s.m2", t->name);
    check_f32(what, m2, t->want_m2, g->out_c);
    snprintf(what, sizeof what, "%s.count", t->name);
    check_one_f32(what, count, t->want_count);
    checked += w_n + 3 * g->out_c + 1;
    free(y), free(acc), free(up), free(up_centred), free(grad_w), free(grad_b), free(mean), free(m2), free(l1);
    free(keep), free(kept);
    return checked;
}

int main(void)
{
    const conv_case_t cases[] = {CASE(conv1d), CASE(conv2d), CASE(dwconv), CASE(dense)};
    uint32_t checked = 0;
    for (uint32_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        checked += run_case(&cases[k]);
    }
    return golden_finish("test_conv", checked);
}
