/* Dynamic sparse updates (design 10, Eq. 9): keep the k output channels whose errors have the
 * largest l1 norm; ties go to the lower channel index. */
#include <math.h>
#if defined(__ARM_FEATURE_DSP) && !defined(EXPLORE_NO_DSP)
#include <arm_acle.h>
#endif

#include "explore_kernels.h"

uint32_t explore_select_scratch_bytes(uint32_t channels)
{
    return (uint32_t)(sizeof(uint32_t) + sizeof(uint8_t)) * channels;
}

uint32_t explore_channels_to_keep(float rate, uint32_t channels)
{
    int32_t k = (int32_t)floorf(rate * (float)channels);
    return k < 1 ? 1u : (uint32_t)k;
}

/* Channel c is kept if fewer than k channels rank before it. */
static uint32_t keep_top_u32(const uint32_t *l1, uint32_t channels, uint32_t k, uint8_t *keep)
{
    uint32_t n = 0;
    for (uint32_t c = 0; c < channels; c++) {
        uint32_t rank = 0;
        for (uint32_t d = 0; d < channels && rank < k; d++) {
            rank += (l1[d] > l1[c] || (l1[d] == l1[c] && d < c)) ? 1u : 0u;
        }
        keep[c] = rank < k;
        n += keep[c];
    }
    return n;
}

static uint32_t keep_top_f(const float *l1, uint32_t channels, uint32_t k, uint8_t *keep)
{
    uint32_t n = 0;
    for (uint32_t c = 0; c < channels; c++) {
        uint32_t rank = 0;
        for (uint32_t d = 0; d < channels && rank < k; d++) {
            rank += (l1[d] > l1[c] || (l1[d] == l1[c] && d < c)) ? 1u : 0u;
        }
        keep[c] = rank < k;
        n += keep[c];
    }
    return n;
}

uint32_t explore_kept_list(const uint8_t *keep, uint32_t channels, uint16_t *kept)
{
    uint32_t n = 0;
    for (uint32_t c = 0; c < channels; c++) {
        if (keep[c]) {
            kept[n++] = (uint16_t)c;
        }
    }
    return n;
}

/* l1[c] = sum over positions of |e - ze| for channel c. */
static void l1_norms(const uint8_t *e, int32_t e_zero, uint32_t positions, uint32_t channels, uint32_t *l1)
{
#if defined(__ARM_FEATURE_DSP) && !defined(EXPLORE_NO_DSP)
    if (e_zero >= 0 && e_zero <= 255) {   /* USADA8 on one byte: |e - ze| added in one instruction */
        for (uint32_t c = 0; c < channels; c++) {
            uint32_t sum = 0;
            const uint8_t *ep = e + c;
            for (uint32_t p = 0; p < positions; p++, ep += channels) {
                sum = __usada8(*ep, (uint32_t)e_zero, sum);
            }
            l1[c] = sum;
        }
        return;
    }
#endif
    for (uint32_t c = 0; c < channels; c++) {
        l1[c] = 0;
    }
    for (uint32_t p = 0; p < positions; p++) {
        for (uint32_t c = 0; c < channels; c++) {
            int32_t v = (int32_t)e[p * channels + c] - e_zero;
            l1[c] += (uint32_t)(v < 0 ? -v : v);
        }
    }
}

uint32_t explore_select_u8(const uint8_t *e, int32_t e_zero, uint32_t positions, uint32_t channels, float rate,
                           uint32_t *l1, uint8_t *keep)
{
    l1_norms(e, e_zero, positions, channels, l1);
    uint32_t k = explore_channels_to_keep(rate, channels);
    return keep_top_u32(l1, channels, k > channels ? channels : k, keep);
}

uint32_t explore_select_f(const float *e, uint32_t positions, uint32_t channels, float rate, float *l1,
                          uint8_t *keep)
{
    for (uint32_t c = 0; c < channels; c++) {
        l1[c] = 0.0f;
    }
    for (uint32_t p = 0; p < positions; p++) {
        for (uint32_t c = 0; c < channels; c++) {
            l1[c] = l1[c] + fabsf(e[p * channels + c]);
        }
    }
    uint32_t k = explore_channels_to_keep(rate, channels);
    return keep_top_f(l1, channels, k > channels ? channels : k, keep);
}
