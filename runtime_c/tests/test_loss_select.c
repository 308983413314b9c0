/* Golden-vector test of loss.c, select.c and activation.c against simulator.softmax_cross_entropy
 * and kernels.channels_to_keep / keep_top_channels / mask_q (make_golden.py). */
#include <stdint.h>

#include "explore_kernels.h"
#include "golden/golden_check.h"
#include "golden/golden_loss_select.h"

#define COUNT(a) ((uint32_t)(sizeof(a) / sizeof((a)[0])))

static uint32_t test_loss(void)
{
    float loss[COUNT(sce_want_loss)], dlogits[COUNT(sce_want_dlogits)];
    for (uint32_t r = 0; r < sce_rows; r++) {
        loss[r] = explore_softmax_cross_entropy(&sce_logits[r * sce_classes], sce_classes, sce_labels[r],
                                                &dlogits[r * sce_classes]);
    }
    check_f32("softmax_cross_entropy.loss", loss, sce_want_loss, sce_rows);
    check_f32("softmax_cross_entropy.dlogits", dlogits, sce_want_dlogits, sce_rows * sce_classes);
    /* in place, as the runtime calls it (logits and dlogits in one buffer) */
    float inplace[COUNT(sce_logits)];
    for (uint32_t k = 0; k < COUNT(sce_logits); k++) {
        inplace[k] = sce_logits[k];
    }
    for (uint32_t r = 0; r < sce_rows; r++) {
        loss[r] = explore_softmax_cross_entropy(&inplace[r * sce_classes], sce_classes, sce_labels[r],
                                                &inplace[r * sce_classes]);
    }
    check_f32("softmax_cross_entropy.loss (in place)", loss, sce_want_loss, sce_rows);
    check_f32("softmax_cross_entropy.dlogits (in place)", inplace, sce_want_dlogits, sce_rows * sce_classes);
    return 2 * (sce_rows + sce_rows * sce_classes);
}

static uint32_t test_select(void)
{
    int32_t k[COUNT(ctk_want)];
    for (uint32_t r = 0; r < COUNT(ctk_rates); r++) {
        for (uint32_t c = 0; c < COUNT(ctk_counts); c++) {
            k[r * COUNT(ctk_counts) + c] = (int32_t)explore_channels_to_keep(ctk_rates[r], ctk_counts[c]);
        }
    }
    check_i32("channels_to_keep", k, ctk_want, COUNT(ctk_want));

    uint8_t keep[COUNT(selq_want_keep)], keep_f[COUNT(self_want_keep)];
    int32_t n[COUNT(selq_want_k)], listed[COUNT(selq_want_k)];
    uint32_t l1[64];
    float l1f[64];
    uint16_t kept[64];
    for (uint32_t s = 0; s < selq_cases; s++) {
        uint32_t plane = selq_positions * selq_channels;
        n[s] = (int32_t)explore_select_u8(&selq_e[s * plane], selq_e_zero[s], selq_positions, selq_channels,
                                          selq_rate[s], l1, &keep[s * selq_channels]);
        listed[s] = (int32_t)explore_kept_list(&keep[s * selq_channels], selq_channels, kept);
        for (uint32_t j = 1; j < (uint32_t)listed[s]; j++) {
            if (kept[j] <= kept[j - 1]) {
                printf("MISMATCH kept_list not ascending in case %u\n", (unsigned)s);
                golden_failures++;
            }
        }
        explore_select_f(&self_e[s * plane], selq_positions, selq_channels, selq_rate[s], l1f,
                         &keep_f[s * selq_channels]);
    }
    check_u8("select_u8.keep", keep, selq_want_keep, COUNT(selq_want_keep));
    check_i32("select_u8.k", n, selq_want_k, selq_cases);
    check_i32("kept_list.count", listed, selq_want_k, selq_cases);
    check_u8("select_f.keep", keep_f, self_want_keep, COUNT(self_want_keep));
    return COUNT(ctk_want) + 2 * COUNT(selq_want_keep) + 2 * selq_cases;
}

static uint32_t mask_case(const char *name, const int32_t *window, const uint8_t *y, const uint8_t *e,
                          int32_t e_zero, const int32_t *want, uint32_t n)
{
    uint8_t q[64];
    int32_t centred[64];
    for (uint32_t k = 0; k < n; k++) {
        q[k] = e[k];
    }
    explore_mask_u8(q, e_zero, y, n, (int16_t)window[0], (int16_t)window[1]);
    for (uint32_t k = 0; k < n; k++) {
        centred[k] = (int32_t)q[k] - e_zero;
    }
    check_i32(name, centred, want, n);
    return n;
}

int main(void)
{
    uint32_t checked = test_loss();
    checked += test_select();
    checked += mask_case("mask_u8 (relu6)", mask6_window, mask6_y, mask6_e, mask6_e_zero, mask6_want,
                         COUNT(mask6_want));
    checked += mask_case("mask_u8 (relu)", maskr_window, maskr_y, maskr_e, maskr_e_zero, maskr_want,
                         COUNT(maskr_want));
    return golden_finish("test_loss_select", checked);
}
