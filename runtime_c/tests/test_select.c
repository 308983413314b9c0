/* The sparse selection of uint8 errors (src/select.c: explore_select_u8) against its definition,
 * whose semantics test_loss_select.c's golden vectors pin to the simulator: the l1 norm of each
 * channel's centred errors, the k largest kept, ties to the lower index; on drawn error maps (some
 * with many ties) and rates.  tests/deploy/test_kernels_qemu.py runs the same file on each Cortex-M
 * core under QEMU (EXPLORE_TEST_ON_QEMU), where the M4 and M7 take the DSP path. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "explore_kernels.h"

#define DRAW_SEED 2718281828u
#include "drawn.h"

#define CASES 400u
#define MAX_POSITIONS 64u
#define MAX_CHANNELS 40u

static int check_case(uint32_t index)
{
    static uint8_t e[MAX_POSITIONS * MAX_CHANNELS];
    uint32_t positions = 1u + next() % MAX_POSITIONS, channels = 1u + next() % MAX_CHANNELS;
    int32_t e_zero = (int32_t)(next() % 256u);
    uint32_t spread = next() % 3u == 0 ? 3u : 256u;   /* few codes: many equal norms */
    for (uint32_t k = 0; k < positions * channels; k++) {
        uint32_t v = spread == 256u ? next() % 256u : (uint32_t)e_zero + next() % spread;
        e[k] = (uint8_t)(v > 255u ? 255u : v);
    }
    float rate = (float)(next() % 101u) * 0.01f;
    uint32_t l1[MAX_CHANNELS], want_l1[MAX_CHANNELS];
    uint8_t keep[MAX_CHANNELS];
    uint32_t kept = explore_select_u8(e, e_zero, positions, channels, rate, l1, keep);
    for (uint32_t c = 0; c < channels; c++) {
        want_l1[c] = 0;
        for (uint32_t p = 0; p < positions; p++) {
            int32_t v = (int32_t)e[p * channels + c] - e_zero;
            want_l1[c] += (uint32_t)(v < 0 ? -v : v);
        }
    }
    uint32_t k = explore_channels_to_keep(rate, channels), want_kept = 0;
    k = k > channels ? channels : k;
    for (uint32_t c = 0; c < channels; c++) {
        uint32_t rank = 0;
        for (uint32_t d = 0; d < channels; d++) {
            rank += want_l1[d] > want_l1[c] || (want_l1[d] == want_l1[c] && d < c);
        }
        uint8_t want_keep = rank < k;
        want_kept += want_keep;
        if (l1[c] != want_l1[c] || keep[c] != want_keep) {
            char line[120];
            snprintf(line, sizeof line, "case %u: channel %u: l1 %lu keep %u, want %lu keep %u\n", (unsigned)index,
                     (unsigned)c, (unsigned long)l1[c], (unsigned)keep[c], (unsigned long)want_l1[c],
                     (unsigned)want_keep);
            say(line);
            return 1;
        }
    }
    return kept != want_kept;
}

int main(void)
{
#ifdef EXPLORE_TEST_ON_QEMU
    explore_port_init();
#endif
    uint32_t failed = 0;
    for (uint32_t k = 0; k < CASES; k++) {
        failed += (uint32_t)check_case(k);
    }
    char line[80];
    snprintf(line, sizeof line, "select: %u of %u cases differ\n", (unsigned)failed, (unsigned)CASES);
    say(line);
#ifdef EXPLORE_TEST_ON_QEMU
    explore_port_exit(failed ? 1 : 0);
#endif
    return failed ? 1 : 0;
}
