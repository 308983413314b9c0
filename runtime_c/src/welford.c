/* Welford's recurrence and Chan's merge, in the order of explore/fqt/simulator.py
 * channel_statistics (design 8). */
#include "explore_kernels.h"
#include "welford.h"

void explore_welford_push(float *mean, float *m2, float n_before, float value)
{
    explore_welford_step(mean, m2, explore_welford_reciprocal(n_before), value);
}

void explore_welford_merge(float *mean, float *m2, float n_a, float sample_mean, float sample_m2, float n_b)
{
    float n = n_a + n_b;
    float delta = sample_mean - *mean;
    *mean = *mean + delta * (n_b / n);
    *m2 = (*m2 + sample_m2) + (delta * delta) * ((n_a * n_b) / n);
}
