/* Welford's recurrence split in two, so that a kernel pushing element j of many channels computes
 * the reciprocal 1 / (j + 1) once: the same float expression, hence the same value, as
 * explore_welford_push (which is built from these two), in the order of explore/fqt/simulator.py. */
#ifndef EXPLORE_WELFORD_H
#define EXPLORE_WELFORD_H

static inline float explore_welford_reciprocal(float n_before)
{
    return 1.0f / (n_before + 1.0f);
}

static inline void explore_welford_step(float *mean, float *m2, float reciprocal, float value)
{
    float delta = value - *mean;
    *mean = *mean + delta * reciprocal;
    *m2 = *m2 + delta * (value - *mean);
}

#endif /* EXPLORE_WELFORD_H */
