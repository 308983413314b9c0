/* Softmax cross-entropy on float logits (design 5), in the order of simulator.softmax_cross_entropy:
 * the class sum runs in class order and exp/log are fmath's polynomials. */
#include "explore_kernels.h"

float explore_softmax_cross_entropy(const float *logits, uint32_t classes, int32_t label, float *dlogits)
{
    float top = logits[0];
    for (uint32_t c = 1; c < classes; c++) {
        top = logits[c] > top ? logits[c] : top;
    }
    /* logits and dlogits may be the same buffer: read what is needed of the logits first. */
    float z_label = logits[label] - top;
    float total = 0.0f;
    for (uint32_t c = 0; c < classes; c++) {
        dlogits[c] = explore_exp_f32(logits[c] - top);   /* exp first; probabilities below */
        total = c == 0 ? dlogits[c] : total + dlogits[c];
    }
    float inv_total = 1.0f / total;
    for (uint32_t c = 0; c < classes; c++) {
        dlogits[c] = dlogits[c] * inv_total - ((int32_t)c == label ? 1.0f : 0.0f);
    }
    return explore_log_f32(total) - z_label;
}
