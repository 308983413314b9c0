/* Golden-vector test of fmath.c against explore.fqt.fmath (make_golden.py). */
#include <stdint.h>

#include "explore_kernels.h"
#include "golden/golden_check.h"
#include "golden/golden_fmath.h"

#define COUNT(a) ((uint32_t)(sizeof(a) / sizeof((a)[0])))

int main(void)
{
    float got_exp[COUNT(exp_in)], got_log[COUNT(log_in)];
    for (uint32_t k = 0; k < COUNT(exp_in); k++) {
        got_exp[k] = explore_exp_f32(exp_in[k]);
    }
    for (uint32_t k = 0; k < COUNT(log_in); k++) {
        got_log[k] = explore_log_f32(log_in[k]);
    }
    check_f32("exp_f32", got_exp, exp_want, COUNT(exp_in));
    check_f32("log_f32", got_log, log_want, COUNT(log_in));
    return golden_finish("test_fmath", COUNT(exp_in) + COUNT(log_in));
}
